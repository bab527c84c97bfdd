"""Cameras to capture from and the virtual camera to send to. No Qt; shared by doctor, pipeline and GUI."""

from .cameras import CameraInfo, CameraMode, camera_status, explain_open_error, list_cameras, parse_v4l2_formats
from .virtual_camera import LoopbackDevice, VirtualCameraStatus, detect_virtual_camera

__all__ = [
    "CameraInfo",
    "CameraMode",
    "camera_status",
    "explain_open_error",
    "list_cameras",
    "parse_v4l2_formats",
    "LoopbackDevice",
    "VirtualCameraStatus",
    "detect_virtual_camera",
]
