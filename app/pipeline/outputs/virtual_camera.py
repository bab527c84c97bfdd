"""The virtual camera (OBS, Zoom, Meet see it as a webcam) through pyvirtualcam.

It runs on its own thread at a fixed rate paced by `sleep_until_next_frame`, and sends the last
frame again when no new one is ready: a meeting app that sees no frames for a moment shows a frozen
or vanished camera, and some drop the device. `send()` is synchronous and holds the GIL while it
converts, so it must never run on the processing (or GUI) thread.
"""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.devices.virtual_camera import SETUP_FIX, VirtualCameraStatus, detect_virtual_camera
from app.pipeline.frame import LiveFrame, now
from app.pipeline.stats import PipelineStats

from .base import RETRY_BACKOFF_S, describe_error, UNAVAILABLE_RECHECK_S, OK, RETRYING, UNAVAILABLE, Output, OutputUnavailable, \
    even_size, fit_frame

log = logging.getLogger(__name__)

BACKENDS = ("auto", "v4l2loopback", "obs", "unitycapture")
CameraFactory = Callable[..., Any]  # pyvirtualcam.Camera's signature


def _pyvirtualcam_camera(**kwargs: Any) -> Any:
    import pyvirtualcam

    return pyvirtualcam.Camera(fmt=pyvirtualcam.PixelFormat.BGR, **kwargs)


def announce_fps(device: str, fps: float, run: Callable[..., Any] = subprocess.run) -> bool:
    """pyvirtualcam never sets the loopback device's frame rate, so apps see a default (often 30 or
    60) whatever we send; v4l2loopback-ctl fixes it where installed. Best effort: False if not."""
    tool = shutil.which("v4l2loopback-ctl")
    if tool is None:
        return False
    try:
        result = run([tool, "set-fps", device, f"{fps:g}"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError) as error:
        log.info("v4l2loopback-ctl set-fps failed: %s", error)
        return False
    return result.returncode == 0


def _pyvirtualcam_backends() -> list[str]:
    try:
        from pyvirtualcam.camera import BACKENDS as available
    except Exception:  # noqa: BLE001 — pyvirtualcam missing or broken: no backend at all
        return []
    return list(available)


def find_virtual_camera(backend: str = "auto", device: str | None = None,
                        detect: Callable[[], VirtualCameraStatus] = detect_virtual_camera,
                        ) -> tuple[str | None, str | None, str]:
    """(pyvirtualcam backend, device, description) to send to, or OutputUnavailable with the fix.
    Opens nothing: the session checks it before starting, the output before each open."""
    system = platform.system()
    if backend in ("obs", "unitycapture"):
        if backend not in _pyvirtualcam_backends():
            raise OutputUnavailable(f"the '{backend}' virtual camera backend does not exist on {system}",
                                    "use --vcam-backend auto" + (" (v4l2loopback)" if system == "Linux" else ""))
        return backend, device, device or backend
    if backend == "v4l2loopback" and system != "Linux":
        raise OutputUnavailable(f"v4l2loopback is Linux only (this is {system})",
                                "use --vcam-backend obs (OBS 26+), or unitycapture on Windows")
    if system == "Linux":
        if device:
            if not Path(device).exists():
                raise OutputUnavailable(f"{device} does not exist", f"load v4l2loopback: {SETUP_FIX}")
            return "v4l2loopback", device, device
        status = detect()
        if not status.available:
            raise OutputUnavailable(status.problem or "no virtual camera", status.fix)
        return "v4l2loopback", status.device, status.summary()
    return None, device, "virtual camera"  # Windows/macOS: pyvirtualcam tries obs, then unitycapture


class VirtualCameraOutput(Output):
    name = "virtual camera"

    def __init__(self, size: tuple[int, int] | None, fps: float, backend: str = "auto", device: str | None = None,
                 stats: PipelineStats | None = None, camera_factory: CameraFactory | None = None,
                 detect: Callable[[], VirtualCameraStatus] = detect_virtual_camera) -> None:
        super().__init__(stats)
        if backend not in BACKENDS:
            raise ValueError(f"unknown virtual camera backend '{backend}': use one of {', '.join(BACKENDS)}")
        self.size = even_size(*size) if size else None
        self.fps = fps if fps > 0 else 30.0
        self.backend = backend
        self.device = device
        self.repeats = 0  # sends of a frame already sent (no new one was ready in time)
        self._factory = camera_factory or _pyvirtualcam_camera
        self._detect = detect
        self._where = ""
        self._detail = "opening"

    # The generic frame-driven loop does not fit a fixed-rate sender: this output has its own.
    def _open(self, frame: LiveFrame) -> None:  # pragma: no cover - unused
        raise NotImplementedError

    def _send(self, frame: LiveFrame) -> None:  # pragma: no cover - unused
        raise NotImplementedError

    def _close(self, completed: bool) -> None:  # pragma: no cover - unused
        pass

    def _target(self) -> tuple[str | None, str | None, str]:
        return find_virtual_camera(self.backend, self.device, self._detect)

    def _open_camera(self, size: tuple[int, int]) -> Any:
        backend, device, where = self._target()
        kwargs: dict[str, Any] = {"width": size[0], "height": size[1], "fps": self.fps}
        if backend:
            kwargs["backend"] = backend
        if device:
            kwargs["device"] = device
        camera = self._factory(**kwargs)
        if backend == "v4l2loopback" and device:
            announce_fps(device, self.fps)
        self._where = f"{where} ({size[0]}×{size[1]} @ {self.fps:g} fps)"
        return camera

    def _first_size(self) -> tuple[int, int] | None:
        """The size to open at: the requested one, else the first frame's (waiting for it)."""
        if self.size:
            return self.size
        while not self._stop.is_set():
            frame = self._slot.get(timeout=0.25)
            if frame is not None:
                self.size = even_size(*frame.size)
                self._slot.put(frame)  # it is also the first frame to send
                return self.size
        return None

    def _run(self) -> None:
        size = self._first_size()
        while size is not None and not self._stop.is_set():
            try:
                camera = self._open_camera(size)
            except OutputUnavailable as error:
                self._record_failure(UNAVAILABLE, str(error))
                self._wait(UNAVAILABLE_RECHECK_S)
                continue
            except Exception as error:  # noqa: BLE001 — busy or vanished device: retry
                self._retry(f"cannot open: {describe_error(error)}")
                continue
            self._set(OK, self._where)
            try:
                self._pump(camera, size)
                self._failures = 0
            except Exception as error:  # noqa: BLE001
                self._retry(f"failed: {describe_error(error)}")
            finally:
                try:
                    camera.close()
                except Exception:  # noqa: BLE001 — closing a vanished device can fail
                    log.debug("virtual camera close failed", exc_info=True)

    def _retry(self, message: str) -> None:
        pause = RETRY_BACKOFF_S[min(self._failures, len(RETRY_BACKOFF_S) - 1)]
        self._failures += 1
        self._record_failure(RETRYING, message, retry_in=pause)
        self._wait(pause)

    def _pump(self, camera: Any, size: tuple[int, int]) -> None:
        width, height = size
        # Black until the first swapped frame: the device exists (and keeps its size) from the start.
        last = np.zeros((height, width, 3), np.uint8)
        fresh = False
        while not self._stop.is_set():
            frame, skipped = self._slot.take_newest()
            self.dropped += skipped
            if frame is not None:
                last = fit_frame(frame.image, width, height)
                fresh = True
            elif fresh:
                self.repeats += 1
            camera.send(last)
            self.frames_sent += 1
            if frame is not None and self.stats is not None:
                self.stats.stage("out:virtual camera", (now() - (frame.processed_at or frame.captured_at)) * 1000.0)
            camera.sleep_until_next_frame()
