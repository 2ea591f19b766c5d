"""``LastGoodState.settle``: the end of every training step, shared by all the trainers."""
import torch

from ebm_engine.training.last_good_state import LastGoodState


def model_and_state(every=2):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    restored = []
    return model, optimizer, LastGoodState([(model, optimizer)], 0, every, after_restore=lambda: restored.append(1)), \
        restored


def train_step(model, optimizer):
    optimizer.zero_grad()
    model(torch.ones(4, 2)).pow(2).mean().backward()
    optimizer.step()


def test_settle_captures_every_few_steps_and_rolls_back_on_divergence():
    model, optimizer, good, restored = model_and_state(every=2)
    for step in (1, 2):
        train_step(model, optimizer)
        assert good.settle(step, False) is False
    at_step_two = model.weight.detach().clone()
    moments = optimizer.state_dict()["state"][0]["exp_avg"].clone()
    train_step(model, optimizer)
    assert good.settle(3, False) is False and good.step == 2       # not due: no copy at step 3
    train_step(model, optimizer)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    assert good.settle(4, True) is True
    assert torch.equal(model.weight, at_step_two) and good.divergences == 1 and restored == [1]
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], moments)
    train_step(model, optimizer)                                    # the saved copy is not aliased
    assert good.settle(5, False) is False
    good.restore()
    assert torch.equal(model.weight, at_step_two)


def test_the_vote_decides_for_this_process():
    model, optimizer, good, _ = model_and_state(every=1)
    votes = []
    good.agree = lambda diverged: votes.append(diverged) or True    # another process diverged
    before = model.weight.detach().clone()
    train_step(model, optimizer)
    assert good.settle(1, False) is True and votes == [False]
    assert torch.equal(model.weight, before) and good.divergences == 1
    good.agree = lambda diverged: False                             # ... or nobody did
    train_step(model, optimizer)
    assert good.settle(2, False) is False and good.step == 2 and good.divergences == 1
