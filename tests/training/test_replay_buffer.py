"""ReplayBuffer: persistent chains with a re-initialisation fraction."""
from __future__ import annotations

import math

import pytest
import torch

from ebm_engine.training.replay_buffer import ReplayBuffer

FRESH = 1000.0  # fresh chains are drawn from [FRESH, FRESH + 1): easy to tell from stored ones


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def init_fn(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return FRESH + torch.rand(n, 2, generator=generator)


def labelled_buffer(capacity: int = 50, seed: int = 0) -> ReplayBuffer:
    """A buffer whose row i holds (i, -i), so sampled rows identify their index."""
    buffer = ReplayBuffer(capacity, init_fn, gen(seed))
    rows = torch.arange(capacity, dtype=torch.float32)
    buffer.update(torch.arange(capacity), torch.stack([rows, -rows], dim=1))
    return buffer


def is_fresh(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0] >= FRESH


def test_construction_fills_the_store_from_init_fn():
    buffer = ReplayBuffer(40, init_fn, gen(1))
    assert buffer.capacity == 40 and buffer.store.shape == (40, 2)
    assert is_fresh(buffer.store).all()
    torch.testing.assert_close(buffer.store, init_fn(40, gen(1)))  # drawn with the given generator
    assert not buffer.store.requires_grad


@pytest.mark.parametrize("capacity", [0, -3])
def test_invalid_capacity(capacity):
    with pytest.raises(ValueError):
        ReplayBuffer(capacity, init_fn)


def test_sample_without_reinit_returns_stored_rows_and_their_indices():
    buffer = labelled_buffer()
    x, idx = buffer.sample(200, 0.0, gen(2))
    assert x.shape == (200, 2) and idx.shape == (200,)
    assert idx.dtype == torch.long and idx.min() >= 0 and idx.max() < 50
    torch.testing.assert_close(x, buffer.store[idx])
    # With 200 draws from 50 slots, every slot is hit with overwhelming probability (1 - 50 (49/50)^200 ≈ 0.99).
    assert len(idx.unique()) > 40


def test_sample_returns_a_copy():
    buffer = labelled_buffer()
    before = buffer.store.clone()
    x, _ = buffer.sample(30, 0.0, gen(3))
    x += 123.0
    assert torch.equal(buffer.store, before)


def test_sample_with_full_reinit_is_all_fresh_and_does_not_write_back():
    buffer = labelled_buffer()
    before = buffer.store.clone()
    x, idx = buffer.sample(64, 1.0, gen(4))
    assert is_fresh(x).all()
    assert torch.equal(buffer.store, before)  # fresh starts only enter the store via update()


def test_reinit_fraction_is_binomial():
    buffer = labelled_buffer(capacity=100)
    n, p = 20000, 0.05
    x, idx = buffer.sample(n, p, gen(5))
    fresh = is_fresh(x)
    count = int(fresh.sum())
    sd = math.sqrt(n * p * (1 - p))  # ≈ 30.8
    assert abs(count - n * p) <= 4 * sd, count
    # Non-fresh rows are the stored rows of their index.
    torch.testing.assert_close(x[~fresh], buffer.store[idx[~fresh]])
    # A different fraction shifts the count accordingly.
    x, _ = buffer.sample(n, 0.5, gen(6))
    count = int(is_fresh(x).sum())
    assert abs(count - n * 0.5) <= 4 * math.sqrt(n * 0.25), count


@pytest.mark.parametrize("fraction", [-0.01, 1.01, math.nan])
def test_invalid_reinit_fraction(fraction):
    with pytest.raises(ValueError, match="reinit_fraction"):
        labelled_buffer().sample(4, fraction, gen(7))


def test_update_writes_rows_at_indices():
    buffer = labelled_buffer()
    before = buffer.store.clone()
    idx = torch.tensor([3, 7, 20])
    new = torch.tensor([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], requires_grad=True) * 1.0
    buffer.update(idx, new)
    torch.testing.assert_close(buffer.store[idx], new.detach())
    assert not buffer.store.requires_grad
    others = torch.ones(50, dtype=torch.bool)
    others[idx] = False
    assert torch.equal(buffer.store[others], before[others])


def test_reset_by_indices_and_by_mask():
    buffer = labelled_buffer()
    before = buffer.store.clone()
    n = buffer.reset(torch.tensor([2, 5, 5, 9]), gen(8))  # duplicates count once
    assert n == 3
    assert is_fresh(buffer.store[[2, 5, 9]]).all()
    keep = torch.ones(50, dtype=torch.bool)
    keep[[2, 5, 9]] = False
    assert torch.equal(buffer.store[keep], before[keep])

    mask = torch.zeros(50, dtype=torch.bool)
    mask[[0, 49]] = True
    assert buffer.reset(mask, gen(9)) == 2
    assert is_fresh(buffer.store[[0, 49]]).all()
    assert not is_fresh(buffer.store[10:40]).any()

    assert buffer.reset(torch.tensor([], dtype=torch.long), gen(10)) == 0
    assert buffer.reset(torch.zeros(50, dtype=torch.bool), gen(10)) == 0


def test_sampling_is_reproducible():
    a = labelled_buffer().sample(100, 0.3, gen(11))
    b = labelled_buffer().sample(100, 0.3, gen(11))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])



def test_a_repeated_index_keeps_the_last_chain_written_for_it():
    """Many chains drawn for the same slots (a large batch written by several threads, or a GPU):
    each slot ends with the last of its chains, as written one by one, whatever the device does."""
    capacity, n = 50_000, 200_000
    g = gen(0)
    indices = torch.randint(capacity, (n,), generator=g)
    chains = torch.randn(n, 2, generator=g)
    buffer = ReplayBuffer(capacity, lambda k, _g: torch.zeros(k, 2))
    threads = torch.get_num_threads()
    torch.set_num_threads(4)   # a plain indexed write of this size is split between threads
    try:
        buffer.update(indices, chains)
    finally:
        torch.set_num_threads(threads)
    last = {slot: i for i, slot in enumerate(indices.tolist())}   # the last chain drawn for each slot
    slots = torch.tensor(list(last))
    assert torch.equal(buffer.store[slots], chains[torch.tensor(list(last.values()))])
    untouched = torch.ones(capacity, dtype=torch.bool)
    untouched[slots] = False
    assert (buffer.store[untouched] == 0).all()
