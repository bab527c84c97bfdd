"""Is there a virtual camera SwapCast can send to, and if not, what exactly to do about it.

Linux: a v4l2loopback device (module loaded, device node present, writable by this user).
Windows/macOS: pyvirtualcam's `obs` backend (OBS's virtual camera), or `unitycapture` on Windows.
`root` relocates /sys, /dev and /lib/modules so tests can build a fake tree in a temp folder.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from . import v4l2
from .cameras import VIDEO_GROUP_FIX

LABEL = "SwapCast"
SETUP_SCRIPT = Path(__file__).resolve().parents[2] / "installers" / "linux" / "setup_v4l2loopback.sh"
SETUP_FIX = f"sudo {SETUP_SCRIPT}"
MODPROBE_LINE = f'sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="{LABEL}" exclusive_caps=1'
# The EFI variable that says whether Secure Boot is enforcing (its last byte is 1 when it is).
SECURE_BOOT_VAR = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
OBS_DEVICE = "OBS Virtual Camera"
UNITY_DEVICE = "Unity Video Capture"


@dataclass(frozen=True)
class LoopbackDevice:
    number: int
    device: str  # "/dev/video10"
    label: str  # the card_label, as apps list it
    exclusive_caps: bool | None  # None when /sys does not say
    problem: str | None = None  # why this user cannot use it (permission, node missing)

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class VirtualCameraStatus:
    available: bool
    backend: str | None  # "v4l2loopback", "obs", "unitycapture"
    device: str | None  # "/dev/video10", "OBS Virtual Camera"
    label: str | None  # what meeting apps show, e.g. "SwapCast"
    problem: str | None = None
    fix: str | None = None
    module_loaded: bool | None = None  # Linux only
    exclusive_caps: bool | None = None  # Linux only
    devices: tuple[LoopbackDevice, ...] = ()
    notes: tuple[str, ...] = ()  # things worth knowing when it works

    def summary(self) -> str:
        if self.available:
            label = f" '{self.label}'" if self.label and self.label != self.device else ""
            return f"{self.backend}: {self.device}{label}"
        return self.problem or "no virtual camera"


# ---------------------------------------------------------------- Linux


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _param_list(root: Path, name: str) -> list[str]:
    text = _read(root / "sys" / "module" / "v4l2loopback" / "parameters" / name)
    return [item.strip() for item in text.split(",")] if text else []


def _exclusive_caps_by_number(root: Path, numbers: list[int]) -> dict[int, bool]:
    """exclusive_caps is an array in creation order; video_nr says which /dev/videoN each entry made."""
    flags = [value.upper() in ("Y", "1") for value in _param_list(root, "exclusive_caps")]
    if not flags:
        return {}
    requested = [int(v) for v in _param_list(root, "video_nr") if v.lstrip("-").isdigit()]
    result: dict[int, bool] = {}
    unmatched = sorted(numbers)
    for slot, number in enumerate(requested):
        if number in unmatched and slot < len(flags):
            result[number] = flags[slot]
            unmatched.remove(number)
    # Devices given no number (video_nr=-1) took the remaining slots in order.
    free_slots = [i for i, n in enumerate(requested + [-1] * len(flags)) if n < 0 and i < len(flags)]
    for number, slot in zip(unmatched, free_slots):
        result[number] = flags[slot]
    return result


def _can_read_write(path: Path) -> bool:
    return os.access(path, os.R_OK | os.W_OK)


def _permission_fix() -> str:
    """The video-group fix, or 'log out and in' when the user already joined but this session predates it."""
    try:
        import grp
        import pwd

        video = grp.getgrnam("video")
        user = pwd.getpwuid(os.getuid()).pw_name
        if user in video.gr_mem and video.gr_gid not in os.getgroups():
            return "you are in the `video` group, but this login session started before you joined it: log out and in (or reboot)"
    except (ImportError, KeyError, OSError):
        pass
    return VIDEO_GROUP_FIX


def _secure_boot_on(root: Path) -> bool:
    try:
        data = (root / SECURE_BOOT_VAR).read_bytes()
    except OSError:
        return False
    return bool(data) and data[-1] == 1


def _module_installed(root: Path, kernel_release: str) -> bool:
    modules = root / "lib" / "modules" / kernel_release
    dep = _read(modules / "modules.dep")
    if dep and "v4l2loopback.ko" in dep:
        return True
    return any(modules.glob("updates/**/v4l2loopback.ko*")) or any(modules.glob("extra/**/v4l2loopback.ko*"))


def _not_loaded(root: Path, kernel_release: str) -> VirtualCameraStatus:
    if not _module_installed(root, kernel_release):
        return VirtualCameraStatus(
            False, "v4l2loopback", None, None,
            problem="no virtual camera: the v4l2loopback kernel module is not installed",
            fix=SETUP_FIX, module_loaded=False,
        )
    if _secure_boot_on(root):
        return VirtualCameraStatus(
            False, "v4l2loopback", None, None,
            problem=(
                "v4l2loopback is installed but not loaded, and Secure Boot is on: the kernel refuses unsigned "
                "modules ('Key was rejected by service')"
            ),
            fix=(
                "enrol the DKMS signing key: sudo mokutil --import /var/lib/dkms/mok.pub, reboot, choose "
                f"'Enroll MOK' in the blue screen, then run {SETUP_FIX}"
            ),
            module_loaded=False,
        )
    return VirtualCameraStatus(
        False, "v4l2loopback", None, None,
        problem="v4l2loopback is installed but not loaded",
        fix=f"{SETUP_FIX} (or once: {MODPROBE_LINE})",
        module_loaded=False,
    )


def _loopback_nodes(root: Path) -> list[v4l2.VideoNode]:
    nodes = []
    for node in v4l2.video_nodes(root):
        if node.loopback_marker:
            nodes.append(node)
            continue
        capability = v4l2.query_capability(node.dev_path)
        if isinstance(capability, v4l2.Capability) and capability.is_loopback:
            nodes.append(node)
    return nodes


def _detect_linux(root: Path, kernel_release: str) -> VirtualCameraStatus:
    if not (root / "sys" / "module" / "v4l2loopback").is_dir():
        return _not_loaded(root, kernel_release)
    nodes = _loopback_nodes(root)
    if not nodes:
        return VirtualCameraStatus(
            False, "v4l2loopback", None, None,
            problem="v4l2loopback is loaded but has no device",
            fix=f"sudo modprobe -r v4l2loopback && {MODPROBE_LINE}",
            module_loaded=True,
        )
    exclusive = _exclusive_caps_by_number(root, [n.number for n in nodes])
    devices: list[LoopbackDevice] = []
    for node in nodes:
        problem = None
        if not node.dev_path.exists():
            problem = f"{node.device} is listed in /sys but the device node is missing"
        elif not _can_read_write(node.dev_path):
            problem = f"permission denied on {node.device}"
        devices.append(LoopbackDevice(node.number, node.device, node.name, exclusive.get(node.number), problem))

    # Prefer the device made for us; any usable loopback device will do otherwise.
    ours = [d for d in devices if LABEL.lower() in d.label.lower()]
    ranked = sorted(ours or devices, key=lambda d: not d.usable)
    chosen = ranked[0]
    common = dict(
        backend="v4l2loopback", device=chosen.device, label=chosen.label, module_loaded=True,
        exclusive_caps=chosen.exclusive_caps, devices=tuple(devices),
    )
    if not chosen.usable:
        fix = _permission_fix() if chosen.problem and "permission" in chosen.problem else (
            f"sudo modprobe -r v4l2loopback && {MODPROBE_LINE}"
        )
        return VirtualCameraStatus(False, problem=chosen.problem, fix=fix, **common)  # type: ignore[arg-type]

    notes: list[str] = []
    if not ours:
        notes.append(
            f"{chosen.device} is labelled '{chosen.label}'; {SETUP_SCRIPT.name} makes one labelled '{LABEL}'"
        )
    if chosen.exclusive_caps is False:
        notes.append(
            "exclusive_caps is off: Chrome and WebRTC apps (Meet, Zoom in a browser) will not list this camera — "
            f"reload with: sudo modprobe -r v4l2loopback && {MODPROBE_LINE}"
        )
    elif chosen.exclusive_caps:
        notes.append("start SwapCast's output before the meeting app opens the camera (exclusive_caps=1)")
    return VirtualCameraStatus(True, notes=tuple(notes), **common)  # type: ignore[arg-type]


# ---------------------------------------------------------------- Windows / macOS


def _backend_names() -> list[str] | None:
    try:
        from pyvirtualcam.camera import BACKENDS
    except Exception:
        return None
    return list(BACKENDS)


def _try_backend(name: str) -> str | None:
    """Opens and closes a small camera on the backend: None when it works, else the error text."""
    try:
        import pyvirtualcam

        with pyvirtualcam.Camera(width=320, height=240, fps=30, backend=name):
            return None
    except Exception as error:
        return str(error) or type(error).__name__


def _obs_fix(system: str) -> str:
    if system == "Darwin":
        return (
            "install OBS Studio 30 or newer (macOS 13+), start its Virtual Camera once and allow the system "
            "extension, then stop it — see installers/macos/README.md"
        )
    return (
        "install OBS Studio 26 or newer, and stop OBS's own Virtual Camera while SwapCast uses it — "
        "see installers/windows/README.md (Unity Capture is an alternative)"
    )


def _detect_obs_like(system: str, probe: bool) -> VirtualCameraStatus:
    names = _backend_names()
    if names is None:
        return VirtualCameraStatus(
            False, None, None, None,
            problem="pyvirtualcam is not installed", fix="re-run the set-up script (setup_virtual_env)",
        )
    order = [n for n in ("obs", "unitycapture") if n in names]
    if not order:
        return VirtualCameraStatus(False, None, None, None, problem="no virtual camera backend for this OS", fix=_obs_fix(system))
    errors: list[str] = []
    for name in order:
        device = OBS_DEVICE if name == "obs" else UNITY_DEVICE
        error = _try_backend(name) if probe else None
        if error is None:
            notes = ("one shared camera: it cannot run while OBS's own Virtual Camera is on",) if name == "obs" else ()
            if name == "obs" and system == "Windows":
                notes += ("DirectShow only: apps that use Media Foundation (Windows Camera) do not see it",)
            return VirtualCameraStatus(True, name, device, device, notes=notes)
        errors.append(f"{name}: {error}")
    return VirtualCameraStatus(
        False, order[0], None, None,
        problem="no virtual camera: " + "; ".join(errors), fix=_obs_fix(system),
    )


def detect_virtual_camera(
    root: Path = Path("/"),
    *,
    system: str | None = None,
    probe: bool = True,
    kernel_release: str | None = None,
) -> VirtualCameraStatus:
    """Finds the virtual camera to send to. Never raises.

    `probe=False` skips opening the OBS/Unity camera on Windows/macOS (that briefly claims it).
    """
    system = system or platform.system()
    try:
        if system == "Linux":
            return _detect_linux(root, kernel_release or platform.release())
        return _detect_obs_like(system, probe)
    except Exception as error:
        return VirtualCameraStatus(False, None, None, None, problem=f"could not check the virtual camera: {error}")
