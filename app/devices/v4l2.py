"""Linux V4L2 facts from /sys and the VIDIOC_QUERYCAP ioctl (standard library only).

Every path is taken relative to a `root` so tests can build a fake /sys and /dev in a temp folder.
"""

from __future__ import annotations

import errno
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

LOOPBACK_DRIVER = "v4l2 loopback"

# struct v4l2_capability: driver[16] card[32] bus_info[32] version capabilities device_caps reserved[3]
_CAPABILITY = struct.Struct("16s32s32sIII3I")
# _IOR('V', 0, struct v4l2_capability): direction read (2) << 30 | size << 16 | 'V' << 8 | 0
VIDIOC_QUERYCAP = (2 << 30) | (_CAPABILITY.size << 16) | (ord("V") << 8) | 0

CAP_VIDEO_CAPTURE = 0x00000001
CAP_VIDEO_OUTPUT = 0x00000002
CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
CAP_META_CAPTURE = 0x00800000
CAP_DEVICE_CAPS = 0x80000000

_VIDEO_NODE = re.compile(r"^video(\d+)$")


@dataclass(frozen=True)
class Capability:
    driver: str
    card: str
    bus_info: str
    capabilities: int
    device_caps: int

    @property
    def caps(self) -> int:
        """What this node (not the whole driver) can do."""
        return self.device_caps if self.capabilities & CAP_DEVICE_CAPS else self.capabilities

    @property
    def captures_video(self) -> bool:
        return bool(self.caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE))

    @property
    def is_loopback(self) -> bool:
        return self.driver == LOOPBACK_DRIVER


@dataclass(frozen=True)
class VideoNode:
    number: int  # N of /dev/videoN
    name: str  # /sys/class/video4linux/videoN/name (the card label)
    sys_dir: Path
    dev_path: Path  # where to open it, under root
    loopback_marker: bool  # v4l2loopback adds its own sysfs attributes to each device it makes
    node_index: int | None  # /sys/.../index: 0 for a camera's capture node, 1 for its metadata node

    @property
    def device(self) -> str:
        """The path a person (and the OS) knows it by."""
        return f"/dev/video{self.number}"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def video_nodes(root: Path = Path("/")) -> list[VideoNode]:
    """Every /sys/class/video4linux/videoN, in numeric order; [] when the folder is missing."""
    base = root / "sys" / "class" / "video4linux"
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    nodes: list[VideoNode] = []
    for entry in entries:
        match = _VIDEO_NODE.match(entry.name)
        if not match:
            continue
        index_text = _read(entry / "index")
        nodes.append(
            VideoNode(
                number=int(match.group(1)),
                name=_read(entry / "name") or entry.name,
                sys_dir=entry,
                dev_path=root / "dev" / entry.name,
                loopback_marker=(entry / "max_openers").exists(),
                node_index=int(index_text) if index_text and index_text.isdigit() else None,
            )
        )
    return sorted(nodes, key=lambda node: node.number)


def query_capability(dev_path: Path) -> Capability | OSError:
    """VIDIOC_QUERYCAP on the device; the OSError (ENOENT, EACCES, EBUSY, ENOTTY...) when it fails."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        return OSError(errno.ENOSYS, "ioctl is not available on this system")
    try:
        # O_NONBLOCK: opening must never wait on a device another program is using.
        fd = os.open(dev_path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        return error
    try:
        buffer = bytearray(_CAPABILITY.size)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buffer)
    except OSError as error:
        return error
    finally:
        os.close(fd)
    driver, card, bus_info, _version, capabilities, device_caps, *_ = _CAPABILITY.unpack(bytes(buffer))
    return Capability(
        driver=driver.split(b"\0", 1)[0].decode(errors="replace"),
        card=card.split(b"\0", 1)[0].decode(errors="replace"),
        bus_info=bus_info.split(b"\0", 1)[0].decode(errors="replace"),
        capabilities=capabilities,
        device_caps=device_caps,
    )
