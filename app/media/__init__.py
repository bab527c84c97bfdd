"""The offline video path: PyAV decode → a frame-processing callback → PyAV encode, on threads.

No Qt here: the job queue, the CLI and the benchmark all drive these functions directly.
"""

from __future__ import annotations

from .encoders import ENCODER_CHOICES, EncoderChoice, resolve_encoder
from .probe import MediaInfo, probe
from .reader import DecodedFrame, VideoReader
from .transcode import ProcessBatch, TranscodeCancelled, TranscodeOptions, TranscodeResult, identity, transcode
from .writer import EncodeSettings, VideoWriter

__all__ = [
    "ENCODER_CHOICES",
    "DecodedFrame",
    "EncodeSettings",
    "EncoderChoice",
    "MediaInfo",
    "ProcessBatch",
    "TranscodeCancelled",
    "TranscodeOptions",
    "TranscodeResult",
    "VideoReader",
    "VideoWriter",
    "identity",
    "probe",
    "resolve_encoder",
    "transcode",
]
