"""``tools/ensure-chromium.sh`` (run by ``make test``), with stand-ins for ``id`` and ``apt-get`` on PATH."""
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "ensure-chromium.sh"


@pytest.fixture
def run(tmp_path):
    """Run the script as user ``uid`` with ``EBM_LAB_CHROMIUM`` at ``tmp_path/chromium``; apt-get logs its calls."""
    bin_dir, binary, calls = tmp_path / "bin", tmp_path / "chromium", tmp_path / "apt-calls"
    bin_dir.mkdir()
    fake_apt = (f'#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> {calls}\n'
                f'case "$*" in *install*) printf "#!/bin/sh\\n" > {binary}; chmod +x {binary};; esac\n')
    (bin_dir / "apt-get").write_text(fake_apt)
    (bin_dir / "apt-get").chmod(0o755)

    def go(uid: int):
        (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (bin_dir / "id").chmod(0o755)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "EBM_LAB_CHROMIUM": str(binary)}
        env.pop("DEBIAN_FRONTEND", None)
        done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)
        return done, (calls.read_text().splitlines() if calls.exists() else [])

    go.binary = binary
    return go


def test_a_present_chromium_needs_nothing(run):
    run.binary.write_text("#!/bin/sh\n")
    run.binary.chmod(0o755)
    done, calls = run(uid=1000)
    assert done.returncode == 0 and calls == [] and done.stderr == ""


def test_without_root_it_stops_with_one_line_giving_the_command(run):
    done, calls = run(uid=1000)
    assert done.returncode != 0 and calls == []
    assert done.stderr.count("\n") == 1 and "`sudo apt-get install -y chromium`" in done.stderr
    assert not run.binary.exists()


def test_as_root_it_installs_debians_chromium(run):
    done, calls = run(uid=0)
    assert done.returncode == 0, done.stderr
    assert calls == [" update -qq", "noninteractive install -y -qq chromium"]
    assert run.binary.exists()
