"""The wheel's contents: ``pyproject.toml`` lists every code package, and assets/ ships as ``ebm_lab_assets``."""
import tomllib
from pathlib import Path

from ebm_engine import assets, checkpoint_store

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def code_packages() -> set[str]:
    """Every folder under app/ and ebm_engine/ that holds Python code, as a dotted name."""
    found = set()
    for top in ("app", "ebm_engine"):
        for module in (ROOT / top).rglob("*.py"):
            found.add(".".join(module.parent.relative_to(ROOT).parts))
    return found


def test_every_code_package_is_listed_for_the_wheel():
    listed = set(SETUPTOOLS["packages"])
    missing = sorted(code_packages() - listed)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml, or the wheel lacks them"
    assert listed - code_packages() == {assets.PACKAGE}


def test_the_whole_assets_folder_ships_as_the_assets_package():
    assert SETUPTOOLS["package-dir"] == {assets.PACKAGE: "assets"}
    assert SETUPTOOLS["package-data"][assets.PACKAGE] == ["**/*"]


def test_a_checkout_reads_its_own_assets_and_keeps_checkpoints_in_its_folder(monkeypatch):
    monkeypatch.delenv("EBM_LAB_CHECKPOINTS", raising=False)
    assert assets.from_checkout() and assets.assets_folder() == ROOT / "assets"
    assert checkpoint_store.ASSETS_FOLDER == ROOT / "assets" / "checkpoints"
    assert checkpoint_store.checkpoints_folder() == ROOT / "checkpoints"
