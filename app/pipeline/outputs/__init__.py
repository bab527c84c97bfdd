"""Live outputs, each on its own thread with a bounded newest-wins queue: virtual camera, network
stream, recording and preview."""

from .base import OK, RETRYING, STOPPED, UNAVAILABLE, Output, OutputUnavailable
from .hub import OutputHub
from .preview import Listeners, PreviewOutput
from .recording import RecordingOutput
from .stream import StreamOutput, check_stream_url
from .virtual_camera import VirtualCameraOutput, find_virtual_camera

__all__ = [
    "OK", "RETRYING", "STOPPED", "UNAVAILABLE",
    "Listeners", "Output", "OutputHub", "OutputUnavailable", "PreviewOutput", "RecordingOutput",
    "StreamOutput", "VirtualCameraOutput", "check_stream_url", "find_virtual_camera",
]
