"""ComfyUI as an engine: the user's workflow run on a ComfyUI server, one prompt per image or frame.

- check(): the workflow and its mapping load and agree; the server answers `GET /object_info` and has
  every node class the workflow uses, every input the mapping names and every model it picks.
  A good answer is kept for CHECK_TTL_S (a real server's /object_info is megabytes).
- An image: source and target uploaded, one prompt, its result fetched, tagged and written atomically.
  The workflow's own progress (`progress {value, max}`) is the job's progress.
- A video: decoded and re-encoded by SwapCast's own pipeline (the InProcessRuntime's transcode, as
  the built-in engine does: fps, timestamps, audio, trim, encoder and the AI-altered tag are kept
  alike); each frame is one prompt. Frames go one at a time: ComfyUI's LoadImage takes one image.
- Cancel: the job's progress callback raises; the running prompt is interrupted and dequeued.
- Failures: a refused prompt (400 node_errors), a failing node (execution_error) or a server that
  stops answering raise EngineFailure: the manager hands the target to the next engine.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engines.base import FaceSelection, Frame
from engines.imaging import write_image_atomic
from engines.metadata import output_tags

from ..base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult, lip_sync_refusal
from ..config import EngineConfig, Mode
from ..errors import EngineFailure
from ..inprocess import InProcessRuntime
from ..origin import DestinationRefused
from .client import ComfyClient, ImageRef, PromptCancelled
from .workflow import Workflow, WorkflowProblem, load_workflow

CHECK_TTL_S = 30.0


class _Stopped(Exception):
    """The job was cancelled while a frame's prompt ran (raised on the frame thread)."""


class ComfyUIAdapter(EngineAdapter):
    def __init__(self, config: EngineConfig, runtime: InProcessRuntime | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config)
        self.runtime = runtime  # lends the video pipeline (decode → frames → encode)
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Availability] | None = None

    # ---- health ----------------------------------------------------------------------------
    def _strip(self, problem: str) -> str:
        return problem.removeprefix(f"{self.name}: ")

    def check(self) -> Availability:
        with self._lock:
            if self._cached is not None and self._clock() - self._cached[0] < CHECK_TTL_S:
                return self._cached[1]
        availability = self._check_now()
        if availability.available:  # a refusal is re-checked every time: the user may be fixing it now
            with self._lock:
                self._cached = (self._clock(), availability)
        return availability

    def _check_now(self) -> Availability:
        if not self.config.url:
            return Availability.no("no url set")
        try:
            workflow = self.workflow()
        except WorkflowProblem as problem:
            return Availability.no(problem.one_line())
        started = time.monotonic()
        try:
            client = self._client()
        except DestinationRefused as refused:
            return Availability.no(refused.reason)
        try:
            info, version = client.object_info(), client.version()
        except EngineFailure as error:
            return Availability.no(self._strip(error.problem))
        finally:
            client.close()
        latency = (time.monotonic() - started) * 1000
        problems = workflow.server_problems(info, self.config.url)
        if problems:
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            return Availability(False, problems[0] + more, version, latency_ms=latency)
        return Availability(True, None, version, latency_ms=latency)

    def workflow(self) -> Workflow:
        return load_workflow(self.config.workflow, self.config.workflow_mapping)

    def _client(self) -> ComfyClient:
        return ComfyClient(self.name, self.config.url, self.config.allow_remote, self.config.timeouts, clock=self._clock)

    # ---- what it can do --------------------------------------------------------------------
    def unsupported(self, request: SwapRequest) -> str | None:
        if refusal := lip_sync_refusal(request):
            return refusal
        try:
            mapping = self.workflow().mapping
        except WorkflowProblem:
            return None  # check() says why it cannot run at all
        if len(request.sources) > 1:
            return "the ComfyUI workflow takes one source photo"
        if request.faces is FaceSelection.REFERENCE:
            return "the ComfyUI workflow cannot take a reference photo"
        if request.faces is FaceSelection.ALL and "faces:all" not in mapping.options:
            return "the workflow's mapping has no faces:all option"
        if request.enhance and "enhance" not in mapping.options:
            return "the workflow's mapping has no enhance option"
        if request.source_face is not None and mapping.source_face is None:
            return "the workflow's mapping has no sourceFace input (no --source-face)"
        if request.mode is Mode.IMAGE_TO_VIDEO and self.runtime is None:
            return "videos need SwapCast's video pipeline, which this process does not have"
        return None

    @staticmethod
    def _options(request: SwapRequest) -> tuple[str, ...]:
        chosen = []
        if request.enhance:
            chosen.append("enhance")
        if request.faces is FaceSelection.ALL:
            chosen.append("faces:all")
        return tuple(chosen)

    # ---- one target ------------------------------------------------------------------------
    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        workflow = self.workflow()
        reason = self.unsupported(request)
        if reason:
            raise EngineFailure(f"{self.name} cannot do this job: {reason}")
        client = self._client()
        job = uuid.uuid4().hex[:12]
        try:
            version = client.version()
            source = client.upload(f"swapcast-{job}-source{_suffix(request.sources[0])}",
                                   Path(request.sources[0]).read_bytes())
            swap = _FrameSwap(self, client, workflow, source, request)
            if request.mode is Mode.IMAGE_TO_IMAGE:
                target = client.upload(f"swapcast-{job}-target{_suffix(request.target)}", request.target.read_bytes())
                state = [0, 1]

                def on_progress(value: int, maximum: int) -> None:
                    if maximum > 0:
                        state[:] = [min(value, maximum), maximum]
                        progress(*state)

                image = swap.run(target, on_progress, lambda: progress(*state))
                request.output.parent.mkdir(parents=True, exist_ok=True)  # an image may change size (upscaling)
                write_image_atomic(request.output, image, output_tags(f"{self.name} {version}" if version else self.name))
                progress(1, 1)
                return SwapResult(request.output, self.name, 1)
            return self._video(request, progress, swap, job)
        finally:
            client.close()

    def _video(self, request: SwapRequest, progress: ProgressCallback, swap: _FrameSwap, job: str) -> SwapResult:
        assert self.runtime is not None  # unsupported() refused the job otherwise
        counter = [0]

        def process(frames: Sequence[Frame]) -> list[Frame]:
            results = []
            for frame in frames:
                counter[0] += 1
                ok, png = cv2.imencode(".png", frame, [cv2.IMWRITE_PNG_COMPRESSION, 1])  # lossless; fast beats small
                if not ok:
                    raise EngineFailure(f"{self.name}: could not encode frame {counter[0]} for upload")
                name = swap.client.upload(f"swapcast-{job}-frame{counter[0]:06d}.png", png.tobytes())
                image = swap.run(name, lambda value, maximum: None, swap.raise_if_stopped)
                results.append(_same_size(self.name, image, frame.shape))
            return results

        def relay(done: int, total: int) -> None:
            try:
                progress(done, total)
            except BaseException:
                swap.stop.set()  # the frame thread interrupts its prompt at its next tick
                raise

        outcome = self.runtime.transcode(request, lambda frames, _times: process(frames), relay)
        return SwapResult(request.output, self.name, outcome.frames, outcome.warnings)


class _FrameSwap:
    """One target's prompts: the same workflow, source and options, a new target image each time."""

    def __init__(self, adapter: ComfyUIAdapter, client: ComfyClient, workflow: Workflow, source: str,
                 request: SwapRequest) -> None:
        self.adapter = adapter
        self.client = client
        self.workflow = workflow
        self.source = source
        self.options = adapter._options(request)
        self.source_face = request.source_face
        self.stop = threading.Event()

    def raise_if_stopped(self) -> None:
        if self.stop.is_set():
            raise _Stopped()

    def run(self, target: str, on_progress: Callable[[int, int], None], heartbeat: Callable[[], None]) -> np.ndarray:
        name = self.adapter.name
        prompt = self.workflow.prompt(self.source, target, self.options, self.source_face)
        fix = f"fix the workflow {self.workflow.path} or its mapping {self.workflow.mapping_path.name} (docs/ENGINES.md)"
        self.client.ensure_socket()  # before the prompt: its first messages must not be missed
        prompt_id = self.client.queue_prompt(prompt, fix)
        try:
            outputs = self.client.follow(prompt_id, on_progress, heartbeat)
        except PromptCancelled as interrupted:
            if self.stop.is_set():
                raise _Stopped() from None
            raise EngineFailure(f"{name}: the prompt was interrupted on the server at {interrupted} "
                                "(was it cancelled in ComfyUI?)") from None
        except BaseException:
            self.client.cancel(prompt_id)  # cancelled, timed out or failed here: free the server
            raise
        return self._result(outputs)

    def _result(self, outputs: dict[str, Any]) -> np.ndarray:
        name, node = self.adapter.name, self.workflow.mapping.output
        images = outputs.get(node, {}).get("images") if isinstance(outputs.get(node), dict) else None
        if not images:
            raise EngineFailure(f"{name}: node {node} ({self.workflow.class_of(node)}) produced no image",
                                f"the mapping's output must name the node that saves the result "
                                f"({self.workflow.mapping_path.name})")
        first = images[0]
        data = self.client.view(ImageRef(str(first.get("filename", "")), str(first.get("subfolder", "")),
                                         str(first.get("type", "output"))))
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise EngineFailure(f"{name}: the result {first.get('filename')} is not an image")
        return image


def _same_size(name: str, image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A video needs every frame at the input's size."""
    if image.shape[:2] == tuple(shape[:2]):
        return image
    raise EngineFailure(f"{name}: the workflow returned {image.shape[1]}x{image.shape[0]} frames for "
                        f"{shape[1]}x{shape[0]} ones; a video needs the same size",
                        "remove the resizing or upscaling nodes from the workflow")


def _suffix(path: Path) -> str:
    return Path(path).suffix.lower() or ".png"
