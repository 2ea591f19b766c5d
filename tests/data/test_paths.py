"""User-given paths stay inside the lab's data and checkpoint folders; anything else is refused clearly."""
import os

import pytest

from ebm_engine.data.paths import OutsideDataFolders, data_folders, resolve_user_path
from ebm_engine.runtime.jobs.jem import JEMJob
from ebm_engine.runtime.jobs.rbm import RBMJob


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "lab-data"
    (root / "mnist").mkdir(parents=True)
    monkeypatch.setenv("EBM_LAB_DATA_DIRS", str(root))
    monkeypatch.setenv("EBM_LAB_CHECKPOINTS", str(tmp_path / "ckpt"))
    return root


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "/etc/passwd", "/etc", "~/../../etc/shadow",
                                     "mnist/../../../../../etc", "/", "//etc//passwd"])
def test_paths_outside_the_data_folders_are_refused(data_root, hostile):
    with pytest.raises(OutsideDataFolders, match="outside the lab's data folders"):
        resolve_user_path(hostile)


def test_paths_inside_are_resolved(data_root):
    assert resolve_user_path(str(data_root / "mnist")) == (data_root / "mnist").resolve()
    assert resolve_user_path(f"{data_root}/mnist/../mnist") == (data_root / "mnist").resolve()
    relative = resolve_user_path("some/set.npy")
    assert relative == (data_folders()[0] / "some/set.npy").resolve()


def test_a_symbolic_link_out_of_a_data_folder_is_refused(data_root):
    os.symlink("/etc", data_root / "escape")
    with pytest.raises(OutsideDataFolders):
        resolve_user_path(str(data_root / "escape" / "passwd"))


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", 5, None])
def test_empty_and_malformed_names_are_clear_errors(data_root, bad):
    with pytest.raises(ValueError):
        resolve_user_path(bad)


def test_jobs_refuse_outside_paths(data_root):
    with pytest.raises(OutsideDataFolders):
        RBMJob({"dataset": "mnist", "mnist_folder": "../../etc"})
    job = JEMJob({"width": 8, "eval_every_s": 1000.0, "buffer_size": 100}, device="cpu")
    for path in ("/etc/passwd", "../../../../etc/passwd"):
        with pytest.raises(OutsideDataFolders):
            job.act("load_ood_set", path=path)
