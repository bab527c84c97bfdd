"""Cameras a person can pick: index, device path, name, and the sizes/fps the OS reports.

Linux reads /sys/class/video4linux and asks each node VIDIOC_QUERYCAP, so loopback devices (outputs,
not cameras) and UVC metadata nodes are left out; sizes come from `v4l2-ctl` where it is installed.
Windows and macOS give no names without extra packages, so OpenCV indices are probed instead.
"""

from __future__ import annotations

import errno
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import v4l2

VIDEO_GROUP_FIX = "join the `video` group: sudo usermod -aG video $USER, then log out and in"
OK = "ok"


@dataclass(frozen=True)
class CameraMode:
    pixel_format: str  # fourcc, e.g. "MJPG", "YUYV"
    width: int
    height: int
    fps: tuple[float, ...] = ()


@dataclass(frozen=True)
class CameraInfo:
    index: int  # what cv2.VideoCapture(index) opens
    path: str | None  # "/dev/video0" on Linux, None where the OS has no path
    name: str
    driver: str | None = None
    bus_info: str | None = None
    modes: tuple[CameraMode, ...] = ()
    status: str = OK  # "ok", or what is wrong ("busy: ...", "gone: ...", "permission denied ...")
    in_use_by: tuple[str, ...] = field(default=())  # other programs holding the device open (Linux)

    @property
    def usable(self) -> bool:
        return self.status == OK

    def sizes(self) -> list[tuple[int, int]]:
        """Distinct width×height pairs, largest first."""
        return sorted({(m.width, m.height) for m in self.modes}, key=lambda s: (s[0] * s[1], s[0]), reverse=True)

    def label(self) -> str:
        where = self.path or f"index {self.index}"
        return f"{self.name} ({where})"


def explain_open_error(error: OSError, device: str) -> str:
    """One status line for a camera that could not be opened, naming the fix where there is one."""
    code = error.errno
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO):
        return f"gone: {device} is not there any more (unplugged?) — reconnect it or pick another camera"
    if code == errno.EBUSY:
        return f"busy: {device} is in use by another program — close it (OBS, a browser tab, a meeting app) or pick another camera"
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied on {device}: {VIDEO_GROUP_FIX}"
    return f"cannot open {device}: {error.strerror or error}"


def camera_status(device: str | Path, root: Path = Path("/")) -> str:
    """"ok", or why the Linux camera at `device` cannot be used right now (gone, busy, no permission)."""
    device = str(device)
    dev_path = root / device.lstrip("/") if root != Path("/") else Path(device)
    result = v4l2.query_capability(dev_path)
    if isinstance(result, OSError):
        return explain_open_error(result, device)
    if not result.captures_video:
        return f"not a camera: {device} ({result.driver}) does not capture video"
    return OK


_SIZE = re.compile(r"Size:\s*Discrete\s+(\d+)x(\d+)")
_FORMAT = re.compile(r"\[\d+\]:\s*'([^']*)'")
_FPS = re.compile(r"\(([\d.]+)\s*fps\)")


def parse_v4l2_formats(text: str) -> list[CameraMode]:
    """Parses `v4l2-ctl --list-formats-ext`: one CameraMode per format and discrete size."""
    modes: list[CameraMode] = []
    pixel_format = "?"
    size: tuple[int, int] | None = None
    rates: list[float] = []

    def flush() -> None:
        if size is not None:
            modes.append(CameraMode(pixel_format, size[0], size[1], tuple(sorted(set(rates), reverse=True))))

    for line in text.splitlines():
        if (match := _FORMAT.search(line)) is not None:
            flush()
            pixel_format, size, rates = match.group(1).strip(), None, []
        elif (match := _SIZE.search(line)) is not None:
            flush()
            size, rates = (int(match.group(1)), int(match.group(2))), []
        elif "Size:" in line:  # stepwise/continuous ranges: nothing discrete to offer
            flush()
            size, rates = None, []
        elif (match := _FPS.search(line)) is not None and size is not None:
            rates.append(round(float(match.group(1)), 3))
    flush()
    return modes


def _v4l2_ctl_modes(device: Path, timeout: float = 2.0) -> tuple[CameraMode, ...]:
    tool = shutil.which("v4l2-ctl")
    if tool is None:
        return ()
    try:
        done = subprocess.run(
            [tool, "--list-formats-ext", "-d", str(device)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(parse_v4l2_formats(done.stdout)) if done.returncode == 0 else ()


def device_users(devices: list[Path], proc_root: Path = Path("/proc")) -> dict[str, list[str]]:
    """Which processes (other than this one) hold each device open: {"/dev/video0": ["obs (pid 42)"]}.

    Only processes this user may inspect are seen; that covers the usual culprit, one's own browser or OBS.
    """
    wanted = {os.path.realpath(d): str(d) for d in devices}
    users: dict[str, list[str]] = {}
    if not wanted:
        return users
    me = str(os.getpid())
    try:
        pids = [p for p in os.listdir(proc_root) if p.isdigit() and p != me]
    except OSError:
        return users
    for pid in pids:
        fd_dir = proc_root / pid / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            if target in wanted:
                try:
                    command = (proc_root / pid / "comm").read_text().strip()
                except OSError:
                    command = "?"
                entry = f"{command} (pid {pid})"
                bucket = users.setdefault(wanted[target], [])
                if entry not in bucket:
                    bucket.append(entry)
    return users


# VIDIOC_QUERYCAP bits of memory-to-memory codecs (e.g. a Raspberry Pi's), which are not cameras.
_CAP_M2M = 0x00004000 | 0x00008000


def _list_linux(root: Path, probe: bool) -> list[CameraInfo]:
    cameras: list[CameraInfo] = []
    for node in v4l2.video_nodes(root):
        if node.loopback_marker:
            continue  # a v4l2loopback device is an output for us, not a camera
        capability = v4l2.query_capability(node.dev_path)
        if isinstance(capability, v4l2.Capability):
            if capability.is_loopback or not capability.captures_video or capability.caps & _CAP_M2M:
                continue
            status, driver, bus = OK, capability.driver, capability.bus_info
        else:
            # Could not ask the node itself: sysfs still tells a UVC metadata node (index 1) apart.
            if node.node_index not in (None, 0):
                continue
            status = explain_open_error(capability, node.device) if capability.errno != errno.ENOTTY else OK
            driver = bus = None
        modes = _v4l2_ctl_modes(node.dev_path) if probe and status == OK else ()
        cameras.append(CameraInfo(node.number, node.device, node.name, driver, bus, modes, status))
    if probe and cameras and root == Path("/"):
        users = device_users([Path(c.path) for c in cameras if c.path])
        cameras = [_with_users(c, users.get(c.path or "", [])) for c in cameras]
    return cameras


def _with_users(camera: CameraInfo, users: list[str]) -> CameraInfo:
    if not users:
        return camera
    # UVC lets a second program open the node but not stream from it: name the program that holds it.
    return replace(camera, in_use_by=tuple(users))


def _list_opencv(max_index: int, system: str) -> list[CameraInfo]:
    try:
        import cv2
    except ImportError:
        return []
    api = {"Windows": cv2.CAP_DSHOW, "Darwin": cv2.CAP_AVFOUNDATION}.get(system, cv2.CAP_ANY)
    cameras: list[CameraInfo] = []
    misses = 0
    for index in range(max_index):
        capture = cv2.VideoCapture(index, api)
        try:
            if not capture.isOpened():
                misses += 1
                if misses >= 2:  # indices are dense: two gaps in a row means no more cameras
                    break
                continue
            misses = 0
            width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            modes = (CameraMode("?", width, height, (fps,) if fps > 0 else ()),) if width and height else ()
            cameras.append(CameraInfo(index, None, f"Camera {index}", modes=modes))
        finally:
            capture.release()
    return cameras


def list_cameras(root: Path = Path("/"), *, probe: bool = True, max_index: int = 6, system: str | None = None) -> list[CameraInfo]:
    """The cameras on this machine. `probe=False` skips v4l2-ctl and the /proc scan (faster, no sizes).

    `root` relocates /sys, /dev (Linux) for tests; `system` overrides platform.system().
    Never raises: a machine without cameras gives [].
    """
    system = system or platform.system()
    try:
        if system == "Linux":
            return _list_linux(root, probe)
        return _list_opencv(max_index, system)
    except Exception:  # listing cameras must never take the app down
        return []
