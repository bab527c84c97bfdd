"""Camera listing: names from /sys, loopback and metadata nodes left out, clear status strings."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from app.devices import cameras as cameras_module
from app.devices.cameras import CameraInfo, camera_status, explain_open_error, list_cameras, parse_v4l2_formats


def add_node(root: Path, number: int, name: str, *, index: int = 0, loopback: bool = False, dev: bool = True) -> None:
    node = root / "sys" / "class" / "video4linux" / f"video{number}"
    node.mkdir(parents=True)
    (node / "name").write_text(name + "\n")
    (node / "index").write_text(f"{index}\n")
    if loopback:  # v4l2loopback gives each of its devices these attributes
        (node / "max_openers").write_text("10\n")
        (node / "buffers").write_text("2\n")
    if dev:
        (root / "dev").mkdir(exist_ok=True)
        (root / "dev" / f"video{number}").write_bytes(b"")


def test_lists_real_cameras_and_skips_loopback_and_metadata_nodes(tmp_path: Path) -> None:
    add_node(tmp_path, 0, "HD Pro Webcam C920", index=0)
    add_node(tmp_path, 1, "HD Pro Webcam C920", index=1)  # the UVC metadata node of the same camera
    add_node(tmp_path, 2, "USB Capture HDMI", index=0)
    add_node(tmp_path, 10, "SwapCast", loopback=True)
    found = list_cameras(tmp_path, probe=False, system="Linux")
    assert [(c.index, c.path, c.name) for c in found] == [
        (0, "/dev/video0", "HD Pro Webcam C920"),
        (2, "/dev/video2", "USB Capture HDMI"),
    ]
    assert all(c.usable for c in found)
    assert found[0].label() == "HD Pro Webcam C920 (/dev/video0)"


def test_unplugged_camera_says_gone(tmp_path: Path) -> None:
    add_node(tmp_path, 0, "Integrated Camera", dev=False)
    (camera,) = list_cameras(tmp_path, system="Linux")
    assert not camera.usable
    assert camera.status.startswith("gone: /dev/video0")
    assert camera_status("/dev/video0", tmp_path).startswith("gone")


def test_no_video4linux_means_no_cameras(tmp_path: Path) -> None:
    assert list_cameras(tmp_path, system="Linux") == []


def test_open_errors_name_the_problem_and_the_fix() -> None:
    busy = explain_open_error(OSError(errno.EBUSY, "Device or resource busy"), "/dev/video0")
    assert busy.startswith("busy: /dev/video0") and "another program" in busy
    denied = explain_open_error(OSError(errno.EACCES, "Permission denied"), "/dev/video0")
    assert "usermod -aG video" in denied and "log out" in denied
    assert explain_open_error(OSError(errno.ENODEV, "No such device"), "/dev/video3").startswith("gone")


V4L2_CTL_OUTPUT = """ioctl: VIDIOC_ENUM_FMT
\tType: Video Capture

\t[0]: 'MJPG' (Motion-JPEG, compressed)
\t\tSize: Discrete 1920x1080
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\t\tInterval: Discrete 0.040s (25.000 fps)
\t\tSize: Discrete 1280x720
\t\t\tInterval: Discrete 0.017s (60.000 fps)
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t[1]: 'YUYV' (YUYV 4:2:2)
\t\tSize: Discrete 640x480
\t\t\tInterval: Discrete 0.033s (30.000 fps)
\t\tSize: Stepwise 16x16 - 1920x1080 with step 1/1
"""


def test_parses_sizes_and_rates_from_v4l2_ctl() -> None:
    modes = parse_v4l2_formats(V4L2_CTL_OUTPUT)
    assert [(m.pixel_format, m.width, m.height, m.fps) for m in modes] == [
        ("MJPG", 1920, 1080, (30.0, 25.0)),
        ("MJPG", 1280, 720, (60.0, 30.0)),
        ("YUYV", 640, 480, (30.0,)),
    ]
    camera = CameraInfo(0, "/dev/video0", "Webcam", modes=tuple(modes))
    assert camera.sizes() == [(1920, 1080), (1280, 720), (640, 480)]


def test_sizes_come_from_v4l2_ctl_when_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_node(tmp_path, 0, "Webcam")
    tool = tmp_path / "bin" / "v4l2-ctl"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\ncat <<'EOF'\n" + V4L2_CTL_OUTPUT + "EOF\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    (camera,) = list_cameras(tmp_path, system="Linux")
    assert camera.sizes()[0] == (1920, 1080)


def test_other_systems_probe_opencv_indices(monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    class FakeCapture:
        def __init__(self, index: int, api: int) -> None:
            self.index = index

        def isOpened(self) -> bool:
            return self.index in (0, 1)

        def get(self, prop: int) -> float:
            return {cv2.CAP_PROP_FRAME_WIDTH: 1280.0, cv2.CAP_PROP_FRAME_HEIGHT: 720.0, cv2.CAP_PROP_FPS: 30.0}.get(prop, 0.0)

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    found = list_cameras(system="Windows")
    assert [(c.index, c.path, c.name) for c in found] == [(0, None, "Camera 0"), (1, None, "Camera 1")]
    assert found[0].sizes() == [(1280, 720)]


def test_listing_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[CameraInfo]:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(cameras_module, "_list_linux", broken)
    assert list_cameras(system="Linux") == []


def test_names_the_program_holding_a_camera(tmp_path: Path) -> None:
    device = tmp_path / "dev" / "video0"
    device.parent.mkdir()
    device.write_bytes(b"")
    process = tmp_path / "proc" / "4242"
    (process / "fd").mkdir(parents=True)
    (process / "comm").write_text("zoom\n")
    (process / "fd" / "7").symlink_to(device.resolve())
    (tmp_path / "proc" / "self").mkdir()  # not a pid: ignored
    users = cameras_module.device_users([device], proc_root=tmp_path / "proc")
    assert users == {str(device): ["zoom (pid 4242)"]}
