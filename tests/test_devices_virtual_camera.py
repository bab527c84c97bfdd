"""Virtual camera detection on fake /sys trees, and the OBS/Unity backends on Windows/macOS."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.devices import virtual_camera as vc
from app.devices.virtual_camera import detect_virtual_camera

KERNEL = "6.8.0-45-generic"


def load_module(root: Path, exclusive_caps: str = "Y,N,N,N", video_nr: str = "10,-1,-1,-1") -> None:
    params = root / "sys" / "module" / "v4l2loopback" / "parameters"
    params.mkdir(parents=True)
    (params / "exclusive_caps").write_text(exclusive_caps + "\n")
    (params / "video_nr").write_text(video_nr + "\n")


def add_loopback(root: Path, number: int, label: str, *, dev: bool = True) -> None:
    node = root / "sys" / "class" / "video4linux" / f"video{number}"
    node.mkdir(parents=True)
    (node / "name").write_text(label + "\n")
    (node / "max_openers").write_text("10\n")
    if dev:
        (root / "dev").mkdir(exist_ok=True)
        (root / "dev" / f"video{number}").write_bytes(b"")


def install_module(root: Path) -> None:
    modules = root / "lib" / "modules" / KERNEL
    modules.mkdir(parents=True)
    (modules / "modules.dep").write_text("updates/dkms/v4l2loopback.ko.zst: videodev.ko mc.ko\n")


def detect(root: Path) -> vc.VirtualCameraStatus:
    return detect_virtual_camera(root, system="Linux", kernel_release=KERNEL)


def test_no_module_points_at_the_setup_script(tmp_path: Path) -> None:
    status = detect(tmp_path)
    assert not status.available
    assert status.module_loaded is False
    assert "not installed" in (status.problem or "")
    assert status.fix and "setup_v4l2loopback.sh" in status.fix and status.fix.startswith("sudo ")


def test_installed_but_not_loaded_gives_the_modprobe_line(tmp_path: Path) -> None:
    install_module(tmp_path)
    status = detect(tmp_path)
    assert not status.available and "not loaded" in (status.problem or "")
    assert 'card_label="SwapCast"' in (status.fix or "") and "exclusive_caps=1" in (status.fix or "")


def test_secure_boot_rejection_explains_key_enrolment(tmp_path: Path) -> None:
    install_module(tmp_path)
    efivar = tmp_path / vc.SECURE_BOOT_VAR
    efivar.parent.mkdir(parents=True)
    efivar.write_bytes(b"\x06\x00\x00\x00\x01")  # attributes, then 1 = Secure Boot enforcing
    status = detect(tmp_path)
    assert "Secure Boot" in (status.problem or "")
    assert "mokutil --import" in (status.fix or "")


def test_swapcast_device_is_found(tmp_path: Path) -> None:
    load_module(tmp_path)
    add_loopback(tmp_path, 10, "SwapCast")
    status = detect(tmp_path)
    assert status.available
    assert (status.backend, status.device, status.label) == ("v4l2loopback", "/dev/video10", "SwapCast")
    assert status.exclusive_caps is True
    assert status.problem is None and status.fix is None
    assert "/dev/video10" in status.summary()


def test_prefers_the_device_labelled_swapcast(tmp_path: Path) -> None:
    load_module(tmp_path, exclusive_caps="N,Y,N,N", video_nr="-1,10,-1,-1")
    add_loopback(tmp_path, 0, "Dummy video device (0x0000)")
    add_loopback(tmp_path, 10, "SwapCast")
    status = detect(tmp_path)
    assert status.device == "/dev/video10" and status.exclusive_caps is True
    assert {d.device: d.exclusive_caps for d in status.devices} == {"/dev/video0": False, "/dev/video10": True}


def test_other_loopback_device_still_works_with_a_note(tmp_path: Path) -> None:
    load_module(tmp_path, exclusive_caps="N,N")
    add_loopback(tmp_path, 2, "OBS Virtual Camera")
    status = detect(tmp_path)
    assert status.available and status.device == "/dev/video2"
    assert status.exclusive_caps is False
    assert any("exclusive_caps" in note for note in status.notes)
    assert any("SwapCast" in note for note in status.notes)


def test_permission_denied_says_join_the_video_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_module(tmp_path)
    add_loopback(tmp_path, 10, "SwapCast")
    monkeypatch.setattr(vc, "_can_read_write", lambda path: False)  # tests run as root, where chmod does not bite
    status = detect(tmp_path)
    assert not status.available
    assert "permission denied on /dev/video10" in (status.problem or "")
    assert status.fix and "video" in status.fix and ("usermod -aG video" in status.fix or "log out" in status.fix)


def test_loaded_module_without_devices(tmp_path: Path) -> None:
    load_module(tmp_path)
    status = detect(tmp_path)
    assert not status.available and status.module_loaded
    assert "modprobe -r v4l2loopback" in (status.fix or "")


def test_missing_device_node(tmp_path: Path) -> None:
    load_module(tmp_path)
    add_loopback(tmp_path, 10, "SwapCast", dev=False)
    status = detect(tmp_path)
    assert not status.available and "device node is missing" in (status.problem or "")


def test_windows_falls_back_to_unity_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vc, "_backend_names", lambda: ["obs", "unitycapture"])
    monkeypatch.setattr(vc, "_try_backend", lambda name: "virtual camera output could not be started" if name == "obs" else None)
    status = detect_virtual_camera(system="Windows")
    assert status.available and status.backend == "unitycapture" and status.device == "Unity Video Capture"


def test_windows_without_obs_points_at_the_notes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vc, "_backend_names", lambda: ["obs", "unitycapture"])
    monkeypatch.setattr(vc, "_try_backend", lambda name: "not installed")
    status = detect_virtual_camera(system="Windows")
    assert not status.available
    assert "OBS Studio 26" in (status.fix or "") and "installers/windows/README.md" in (status.fix or "")


def test_macos_obs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vc, "_backend_names", lambda: ["obs"])
    monkeypatch.setattr(vc, "_try_backend", lambda name: None)
    status = detect_virtual_camera(system="Darwin")
    assert status.available and status.device == "OBS Virtual Camera"
    monkeypatch.setattr(vc, "_try_backend", lambda name: "camera extension not installed")
    status = detect_virtual_camera(system="Darwin")
    assert "OBS Studio 30" in (status.fix or "") and "macOS 13" in (status.fix or "")
