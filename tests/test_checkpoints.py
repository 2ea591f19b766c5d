"""The checkpoint format: round trip, atomic saves, and clear errors for bad files."""
from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from ebm_engine.checkpoints import (CheckpointError, load_checkpoint, make_header, read_header,
                                    save_checkpoint)
from ebm_engine.models import SimpleEBM


def _model_and_header(seed=0, step=7):
    torch.manual_seed(seed)
    model = SimpleEBM(2, hidden=16, depth=2)
    header = make_header("mlp_ebm", model.config, data="8gaussians", step=step, metrics={"nll": 3.25},
                         seed=seed)
    return model, header


def test_round_trip_restores_weights_and_header(tmp_path):
    model, header = _model_and_header()
    path = save_checkpoint(tmp_path / "m.pt", model.state_dict(), header)
    state, read = load_checkpoint(path, expected_model="mlp_ebm")
    clone = SimpleEBM(**read["model_args"])
    clone.load_state_dict(state)
    x = torch.randn(5, 2)
    assert torch.equal(clone.energy(x), model.energy(x))
    assert read["step"] == 7 and read["metrics"] == {"nll": 3.25} and read["seed"] == 0
    assert read["versions"]["torch"] == torch.__version__
    json.dumps(read)  # the header stays JSON-able after loading


def test_no_temporary_file_is_left_behind(tmp_path):
    model, header = _model_and_header()
    save_checkpoint(tmp_path / "m.pt", model.state_dict(), header)
    save_checkpoint(tmp_path / "m.pt", model.state_dict(), header)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    old, header = _model_and_header(seed=0, step=1)
    path = save_checkpoint(tmp_path / "m.pt", old.state_dict(), header)
    new, new_header = _model_and_header(seed=1, step=2)
    real_fsync = os.fsync

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CheckpointError, match="No space left.*previous checkpoint is intact"):
        save_checkpoint(path, new.state_dict(), new_header)
    monkeypatch.setattr(os, "fsync", real_fsync)
    state, read = load_checkpoint(path)
    assert read["step"] == 1
    assert all(torch.equal(state[k], v) for k, v in old.state_dict().items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_truncated_file_gives_clear_error(tmp_path):
    model, header = _model_and_header()
    path = save_checkpoint(tmp_path / "m.pt", model.state_dict(), header)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or foreign"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"hello, not a checkpoint", b"\x80\x04K\x01."])
def test_foreign_bytes_give_clear_error(tmp_path, content):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_foreign_torch_file_and_wrong_model_are_refused(tmp_path):
    torch.save({"weight": torch.zeros(3)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an EBM Lab checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    model, header = _model_and_header()
    path = save_checkpoint(tmp_path / "m.pt", model.state_dict(), header)
    with pytest.raises(CheckpointError, match="holds a 'mlp_ebm' model, not 'rbm'"):
        load_checkpoint(path, expected_model="rbm")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        read_header(tmp_path / "missing.pt")


def test_pickled_code_is_not_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned > " + str(tmp_path / "owned"),))

    torch.save({"format": "ebm-lab-checkpoint/1", "header": {}, "state_dict": {}, "x": Evil()},
               tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "owned").exists()


def test_bad_header_and_missing_folder_are_refused(tmp_path):
    model, header = _model_and_header()
    with pytest.raises(CheckpointError, match="lacks"):
        save_checkpoint(tmp_path / "m.pt", model.state_dict(), {"model": "mlp_ebm"})
    with pytest.raises(CheckpointError, match="JSON"):
        make_header("mlp_ebm", {"bad": object()})
    with pytest.raises(CheckpointError, match="does not exist"):
        save_checkpoint(tmp_path / "nope" / "m.pt", model.state_dict(), header)


def test_disk_full_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    old, header = _model_and_header(seed=0, step=1)
    path = save_checkpoint(tmp_path / "m.pt", old.state_dict(), header)
    real_save = torch.save

    def full_after_some_bytes(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc] PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_after_some_bytes)
    with pytest.raises(CheckpointError, match="previous checkpoint is intact"):
        save_checkpoint(path, _model_and_header(seed=1)[0].state_dict(), header)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)[1]["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
