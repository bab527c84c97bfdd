"""Carry the source's sound into the output: packets copied untouched when the output container
takes the codec (no generation loss, no CPU), else decoded and re-encoded to AAC.

Packets are pulled from a second demuxer of the source as the video advances, so the muxer can
interleave sound and picture as it goes instead of buffering a whole track.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

log = logging.getLogger(__name__)

REENCODE_CODEC = "aac"
REENCODE_BITRATE = 192_000
_USUAL_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}


@dataclass(frozen=True)
class AudioPlan:
    """Which part of the source's sound to carry: [start_s, end_s) in seconds of the source's clock
    (None = open end), shifted back by `shift_s` so it stays in sync with the shifted video."""

    start_s: float | None = None
    end_s: float | None = None
    shift_s: float = 0.0


class AudioTrack:
    """The output's audio stream, fed from the source file. Created before the first video packet
    is muxed (the container header needs every stream); `pump(t)` muxes sound up to time t."""

    def __init__(self, source: Path, output: Any, plan: AudioPlan) -> None:
        self.plan = plan
        self._input: Any = av.open(str(source), mode="r")
        self._in_stream: Any = self._input.streams.audio[0]
        self._output = output
        self.copied: bool
        self.warning: str | None = None
        codec_name = self._in_stream.codec_context.name
        try:
            self._out_stream: Any = output.add_stream_from_template(self._in_stream)
            self.copied = True
        except ValueError:
            # The container cannot hold this codec (e.g. PCM in MP4 on some builds, WMA anywhere
            # but ASF): re-encode rather than drop the sound.
            rate = self._in_stream.codec_context.sample_rate or 48000
            self._out_stream = output.add_stream(REENCODE_CODEC, rate=rate)
            layout = self._in_stream.codec_context.layout
            if layout.name.endswith("channels"):
                # An unordered layout ("1 channels") is refused by AAC: use the usual one for the count.
                layout = _USUAL_LAYOUTS.get(layout.nb_channels, "stereo")
            self._out_stream.layout = layout
            self._out_stream.bit_rate = REENCODE_BITRATE
            self.copied = False
            self.warning = f"audio re-encoded to AAC: the output container does not take {codec_name}"
        self.codec = self._out_stream.codec_context.name if not self.copied else codec_name
        self._packets = self._input.demux(self._in_stream)
        self._pending: Any = None  # a packet read ahead of the pump's current limit
        self._done = False
        self._samples_out = 0
        self._in_tb: Fraction = self._in_stream.time_base

    def _seconds(self, pts: int) -> float:
        return float(pts * self._in_tb)

    def _next_packet(self) -> Any:
        if self._pending is not None:
            packet, self._pending = self._pending, None
            return packet
        for packet in self._packets:
            if packet.dts is None and packet.pts is None:
                continue  # the demuxer's end-of-stream flush marker, nothing to mux
            return packet
        return None

    def _keep(self, packet: Any) -> bool:
        # Whole packets only when copying: a packet is kept when it starts inside the range, so the
        # output's sound starts at most one packet (~21 ms of AAC) after the video's first frame.
        start = self._seconds(packet.pts)
        if self.plan.start_s is not None and start < self.plan.start_s - 1e-6:
            return False
        return True

    def pump(self, until_s: float | None) -> None:
        """Mux source sound whose start is before `until_s` (None: all that is left)."""
        if self._done:
            return
        while True:
            packet = self._next_packet()
            if packet is None:
                self._finish_stream()
                return
            if packet.pts is None:
                continue
            start = self._seconds(packet.pts)
            if self.plan.end_s is not None and start >= self.plan.end_s:
                self._finish_stream()
                return
            if until_s is not None and start - self.plan.shift_s > until_s:
                self._pending = packet
                return
            if not self._keep(packet):
                continue
            if self.copied:
                self._mux_copy(packet)
            else:
                self._reencode(packet)

    def _mux_copy(self, packet: Any) -> None:
        shift = int(round(self.plan.shift_s / self._in_tb))
        if shift:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        packet.stream = self._out_stream
        self._output.mux(packet)

    def _reencode(self, packet: Any) -> None:
        for frame in packet.decode():
            # Keep the source's timing (shifted like the video) so sound that starts late stays late.
            if frame.time is not None and frame.sample_rate:
                frame.pts = max(0, round((frame.time - self.plan.shift_s) * frame.sample_rate))
                frame.time_base = Fraction(1, frame.sample_rate)
            for out_packet in self._out_stream.encode(frame):
                self._output.mux(out_packet)

    def _finish_stream(self) -> None:
        if self._done:
            return
        self._done = True
        if not self.copied:
            for out_packet in self._out_stream.encode(None):
                self._output.mux(out_packet)

    def close(self) -> None:
        if self._input is not None:
            self._input.close()
            self._input = None
