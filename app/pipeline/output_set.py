"""The outputs the user wants (virtual camera, recording, stream) and the ones running.

Controls change what is wanted at any time; `reconcile` starts and retires outputs to match once the
pipeline is live. A retired output leaves the frame path at once and finishes on its own thread (a
recording is finalised); `stop_all` ends them all and keeps their reports for the summary.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .api import LiveConfig, OutputStatus
from .capture import SourceInfo
from .outputs import (
    Output, OutputHub, PreviewOutput, RecordingOutput, StreamOutput, VirtualCameraOutput, check_stream_url,
)
from .stats import PipelineStats

if TYPE_CHECKING:
    from .lip_sync import AudioTap

OUTPUT_STOP_S = 10.0  # a recording's encoder flush and faststart rewrite can take a few seconds


class OutputSet:
    def __init__(self, config: LiveConfig, hub: OutputHub, stats: PipelineStats) -> None:
        self.hub = hub
        self._config = config
        self._stats = stats
        self._lock = threading.Lock()
        self._vcam = config.virtual_cam
        self._record: Path | None = Path(config.record_path) if config.record_path else None
        self._stream: str | None = config.stream_url
        self._live = False
        self._source: SourceInfo | None = None
        self._retiring: list[Output] = []
        self._finished: tuple[Output, ...] = ()
        self._audio: Callable[[], AudioTap] | None = None  # with an audio input: the sound for files and streams

    def attach_audio(self, tap: Callable[[], AudioTap]) -> None:
        """Before `go_live`: recordings and streams started from now on carry the audio input's sound."""
        with self._lock:
            self._audio = tap

    # ---- what is wanted (any thread) ---------------------------------------------------------
    def want_virtual_cam(self, on: bool) -> None:
        with self._lock:
            self._vcam = bool(on)
            self._reconcile()

    def want_recording(self, path: Path | None) -> None:
        with self._lock:
            self._record = Path(path) if path else None
            self._reconcile()

    def want_stream(self, url: str | None) -> None:
        if url:
            check_stream_url(url)
        with self._lock:
            self._stream = url or None
            self._reconcile()

    # ---- life cycle (the supervisor thread) --------------------------------------------------
    def go_live(self, source: SourceInfo, preview: PreviewOutput) -> None:
        """The camera is open (its size and rate are known): start the preview and what is wanted."""
        with self._lock:
            self._source = source
            preview.start()
            self.hub.add(preview)
            self._live = True
            self._reconcile()

    def stop_all(self) -> None:
        """Ask every output to finish (a recording is finalised) and wait for them."""
        with self._lock:
            self._live = False
            outputs = list(self.hub.outputs()) + self._retiring
        for output in outputs:
            output.request_stop()
        for output in outputs:
            output.join(OUTPUT_STOP_S)
        self._finished = tuple(outputs)

    def saved(self) -> list[str]:
        """'saved FILE (N frames)' for each recording finished, once stopped."""
        return [o.status().detail for o in self._finished if isinstance(o, RecordingOutput) and o.written]

    def statuses(self) -> tuple[OutputStatus, ...]:
        return self.hub.statuses()

    # ---- matching running to wanted (with the lock held) -------------------------------------
    def _fps(self) -> float:
        source = self._source
        return source.fps if source is not None and source.fps > 0 else self._config.fps

    def _reconcile(self) -> None:
        if not self._live:
            return
        hub = self.hub
        vcam = hub.find("virtual camera")
        if self._vcam and vcam is None:
            info = self._source
            size = (info.width, info.height) if info and info.width and info.height else self._config.size
            self._add(VirtualCameraOutput(size, self._config.fps, self._config.vcam_backend, self._config.vcam_device,
                                          stats=self._stats))
        elif not self._vcam and vcam is not None:
            self._retire(vcam)
        record = hub.find("recording")
        if record is not None and (not isinstance(record, RecordingOutput) or record.path != self._record):
            self._retire(record)
            record = None
        if self._record is not None and record is None:
            self._add(RecordingOutput(self._record, self._fps(), stats=self._stats, audio=self._tap()))
        stream = hub.find("stream")
        if stream is not None and (not isinstance(stream, StreamOutput) or stream.url != self._stream):
            self._retire(stream)
            stream = None
        if self._stream and stream is None:
            self._add(StreamOutput(self._stream, self._fps(), stats=self._stats, audio=self._tap()))

    def _tap(self) -> AudioTap | None:
        return self._audio() if self._audio is not None else None

    def _add(self, output: Output) -> None:
        output.start()
        self.hub.add(output)

    def _retire(self, output: Output) -> None:
        # Off the frame path at once; its thread finishes (a recording is finalised) by itself and
        # `stop_all` joins it at the end.
        self.hub.remove(output)
        output.request_stop()
        self._retiring = [o for o in self._retiring if o.running] + [output]
