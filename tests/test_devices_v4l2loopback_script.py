"""installers/linux/setup_v4l2loopback.sh: the dry run shows the set-up; Secure Boot failures are explained."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "installers" / "linux" / "setup_v4l2loopback.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


# Stand-ins for everything that could change the machine, so a mistake in a test cannot install or load anything.
SAFE_STUBS = {name: "#!/bin/sh\necho \"stub $0 $*\" >&2\nexit 1\n" for name in ("apt-get", "dnf", "pacman", "akmods", "modprobe", "usermod")}


def stub_path(folder: Path, stubs: dict[str, str]) -> dict[str, str]:
    for name, body in {**SAFE_STUBS, **stubs}.items():
        (folder / name).write_text(body)
        (folder / name).chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:/usr/bin:/bin"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, env=env)


def test_dry_run_prints_the_modprobe_line_and_the_persisted_options() -> None:
    done = run("--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    modprobe = [line for line in lines if line.startswith("+ modprobe v4l2loopback ")]
    assert modprobe == ['+ modprobe v4l2loopback devices=1 video_nr=10 card_label="SwapCast" exclusive_caps=1']
    assert "+ write /etc/modules-load.d/swapcast.conf:" in lines
    assert "+ write /etc/modprobe.d/swapcast.conf:" in lines
    assert 'options v4l2loopback devices=1 video_nr=10 card_label="SwapCast" exclusive_caps=1' in lines
    assert "video" in done.stdout and "usermod -aG video" in done.stdout


def test_dry_run_honours_label_and_number() -> None:
    done = run("--dry-run", "--label", "Swap Cast", "--video-nr", "12")
    assert done.returncode == 0, done.stderr
    assert '+ modprobe v4l2loopback devices=1 video_nr=12 card_label="Swap Cast" exclusive_caps=1' in done.stdout


def test_refuses_to_run_without_root_or_dry_run(tmp_path: Path) -> None:
    done = run(env=stub_path(tmp_path, {"id": "#!/bin/sh\necho 1000\n"}))
    assert done.returncode != 0 and "sudo" in done.stderr


def test_secure_boot_rejection_is_explained(tmp_path: Path) -> None:
    """modprobe fails the way Secure Boot makes it fail; the script must say how to enrol the key."""
    stubs = {
        "id": "#!/bin/sh\necho 0\n",  # pretend to be root
        "modinfo": "#!/bin/sh\nexit 0\n",  # pretend the module is installed, so no package manager runs
        "modprobe": "#!/bin/sh\necho \"modprobe: ERROR: could not insert 'v4l2loopback': Key was rejected by service\" >&2\nexit 1\n",
    }
    if Path("/sys/module/v4l2loopback").exists():
        pytest.skip("v4l2loopback is really loaded here; the script would take another path")
    done = run(env=stub_path(tmp_path, stubs))
    assert done.returncode != 0
    assert "Secure Boot" in done.stderr and "mokutil --import" in done.stderr
    assert "could not load v4l2loopback" in done.stderr
