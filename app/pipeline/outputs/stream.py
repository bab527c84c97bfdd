"""A network stream of the swapped feed through PyAV: MPEG-TS over UDP/SRT/TCP, or FLV over RTMP.

For when the machine that swaps is not the one that streams: OBS adds the URL as a Media Source.
x264 runs with zerolatency/ultrafast and no B-frames (nothing waits for future frames), and a one
second GOP so a viewer that joins late gets a picture within a second.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import av

from app.pipeline.frame import LiveFrame
from app.pipeline.stats import PipelineStats
from app.storage.uri import masked_url

from .base import FrameClock, Output, OutputUnavailable, encode_on_clock, even_size
from .live_audio import LiveAudioTrack

if TYPE_CHECKING:
    from app.pipeline.lip_sync import AudioTap

log = logging.getLogger(__name__)

# Container per URL scheme. MPEG-TS needs no header round-trip and survives lost UDP packets.
FORMATS = {"udp": "mpegts", "srt": "mpegts", "tcp": "mpegts", "rtp": "rtp_mpegts", "rtmp": "flv", "rtmps": "flv"}
BITS_PER_PIXEL = 0.08  # ~2.2 Mbit/s at 720p30, ~5 Mbit/s at 1080p30: OBS-like quality for a face cam
UDP_PACKET = 1316  # 7 TS packets: fits one Ethernet frame without IP fragmentation


def check_stream_url(url: str) -> str:
    """The container format for `url`, or a ValueError naming the schemes that work."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in FORMATS:
        raise ValueError(f"unsupported stream URL '{url}': use udp://HOST:PORT, srt://HOST:PORT, "
                         "tcp://HOST:PORT or rtmp://HOST/APP/KEY")
    if scheme != "rtmp" and scheme != "rtmps" and not urlsplit(url).port:
        raise ValueError(f"stream URL '{url}' has no port, e.g. udp://127.0.0.1:5000")
    return FORMATS[scheme]


def _with_udp_defaults(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "udp" or "pkt_size" in parts.query:
        return url
    return url + ("&" if parts.query else "?") + f"pkt_size={UDP_PACKET}"


class StreamOutput(Output):
    name = "stream"

    def __init__(self, url: str, fps: float, stats: PipelineStats | None = None, audio: AudioTap | None = None) -> None:
        super().__init__(stats)
        self.audio = LiveAudioTrack(audio) if audio is not None else None  # AAC beside the video (TS and FLV take it)
        self.url = url
        self.format = check_stream_url(url)
        self.fps = fps
        self._container: Any = None
        self._stream: Any = None
        self._clock = FrameClock(fps)
        self._size = (0, 0)

    def _describe(self) -> str:
        width, height = self._size
        return f"{masked_url(self.url)} ({self.format}, {width}×{height} @ {float(self._clock.rate):g} fps)"

    def _open(self, frame: LiveFrame) -> None:
        width, height = even_size(*frame.size)
        container: Any = av.open(_with_udp_defaults(self.url), mode="w", format=self.format,
                                 # A server that stops answering fails the send within 5 s (retried)
                                 # instead of hanging this thread, and with it the session's stop.
                                 options={"flush_packets": "1", "rw_timeout": "5000000"})
        try:
            self._clock = FrameClock(self.fps)
            stream: Any = container.add_stream("libx264", rate=self._clock.rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            ctx = stream.codec_context
            ctx.time_base = self._clock.time_base
            ctx.gop_size = max(1, round(float(self._clock.rate)))
            ctx.max_b_frames = 0
            bit_rate = int(width * height * float(self._clock.rate) * BITS_PER_PIXEL)
            ctx.bit_rate = bit_rate
            stream.options = {
                "preset": "ultrafast", "tune": "zerolatency",
                # A capped rate with a one-second buffer: the bitrate stays near its target even when
                # the picture changes a lot (a viewer's buffer never starves).
                "maxrate": str(bit_rate), "bufsize": str(bit_rate),
            }
            if self.format == "mpegts":
                container.metadata["service_provider"] = "SwapCast"
                container.metadata["service_name"] = "SwapCast live (AI-altered)"
            if self.audio is not None:
                self.audio.add_to(container)
            # Connect and write the header now, not at the first frame: an unreachable server or a
            # protocol this FFmpeg lacks is reported as an open failure, with the right advice.
            container.start_encoding()
            self._container, self._stream, self._size = container, stream, (width, height)
        except av.error.ProtocolNotFoundError:
            container.close()
            raise OutputUnavailable(f"this FFmpeg build (PyAV's) cannot send {self.url.split(':', 1)[0]}://",
                                    "use a udp:// URL (MPEG-TS), which OBS's Media Source also reads") from None
        except BaseException:
            container.close()
            raise

    def _send(self, frame: LiveFrame) -> bool:
        if not encode_on_clock(self._container, self._stream, self._clock, self._size, frame):
            return False
        if self.audio is not None:
            self.audio.mux_until(self._container, self._clock.origin, self._clock.end or frame.captured_at)
        return True

    def _close(self, completed: bool) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        try:
            if completed:
                container.mux(self._stream.encode(None))
                if self.audio is not None:
                    self.audio.finish(container, self._clock.origin, self._clock.end)
        finally:
            container.close()
