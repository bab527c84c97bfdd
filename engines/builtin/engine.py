"""The built-in insightface engine: detect → (recognize) → align → swap → paste back → enhance → lip sync.

Where each step lives: detect/ (SCRFD, face selection, smoothing), recognize/ (ArcFace, source
identities), align/ (templates and crops), swap/ (inswapper), paste/ (region-limited blend),
enhance/ (GFPGAN), lipsync/ (Wav2Lip). This module only wires them and keeps the stream alive: a
model error returns the frame unchanged and marks the engine degraded, it never raises into the
caller's loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engines.base import (
    FRAMES_WITHOUT_FACE, Capability, Engine, EngineHealth, Frame, Identity, LipSyncFrame, LoadOptions, ModelHealth,
    ProgressFn, SwapContext,
)
from engines.errors import ModelError
from engines.models.preference import preferred_model

if TYPE_CHECKING:
    from engines.models.store import ModelStore

from .align.transform import crop, estimate_similarity
from .detect.detector import FaceDetector
from .detect.faces import DetectedFace
from .detect.selection import needs_embeddings, select
from .detect.smoothing import KeypointSmoother, frame_clock
from .enhance.enhancer import FaceEnhancer
from .health import HealthTracker
from .lipsync.lip_syncer import LipSyncer
from .lipsync.targets import lip_sync_asked, lip_sync_frames, lip_sync_targets
from .paste.color import match_mean_color
from .paste.masks import blend_mask
from .paste.paste_back import paste_back
from .recognize.identities import IdentityBuilder
from .recognize.recognizer import FaceRecognizer
from .runtime.sessions import CPU, SessionInfo, create_session, resolve_providers
from .runtime.timing import STREAM_TIMER, StageTimer, TimerSet
from .swap.swapper import SwapOutputError, Swapper

log = logging.getLogger(__name__)

__all__ = ["FRAMES_WITHOUT_FACE", "BuiltinEngine"]

LIP_SYNC_STATE = "lip_sync"  # SwapContext.stream_state key: the mouth-box smoothing of one stream


@dataclass(frozen=True)
class _Job:
    """One face to swap: which frame, where, and who goes there."""

    frame_index: int
    face: DetectedFace
    identity: Identity
    matrix: np.ndarray


class BuiltinEngine(Engine):
    name = "builtin"
    capabilities = frozenset({Capability.LIVE, Capability.IMAGE, Capability.VIDEO, Capability.ENHANCE,
                              Capability.BATCH, Capability.LIP_SYNC})

    def __init__(self, store: ModelStore | None = None) -> None:
        # The model store in use: the one given (tests, benchmarks), else resolved from the
        # LoadOptions by each load(). The fp16→fp32 switch and the enhancer's late load read it.
        self._store: ModelStore | None = store
        self._store_given = store is not None
        self._options = LoadOptions()
        self._detector: FaceDetector | None = None
        self._recognizer: FaceRecognizer | None = None
        self._swapper: Swapper | None = None
        self._enhancer: FaceEnhancer | None = None
        self._lip_syncer: LipSyncer | None = None
        self._lip_syncer_error: ModelError | None = None  # why the lazy load failed (not retried per frame)
        self._identities: IdentityBuilder | None = None
        self._latents: dict[bytes, np.ndarray] = {}
        self._health = HealthTracker()
        self.timer = StageTimer()
        self._load_lock = threading.Lock()
        self._swapper_model_id = ""

    # ---- loading -------------------------------------------------------------------------
    def load(self, options: LoadOptions, progress: ProgressFn | None = None) -> None:
        report = progress or (lambda message, fraction: None)
        with self._load_lock:
            self._options = options
            self._lip_syncer_error = None
            store = self._store = self._model_store(options)
            detector_id = options.detector_id or preferred_model(store, "detector", options.preferred_models)
            report("loading detector", 0.05)
            model, session, info = self._session(store, detector_id, options)
            self._detector = FaceDetector(session, options.det_size, options.det_threshold)
            self._health.set_model(self._model_health(detector_id, "detector", info))
            if options.load_swapper:
                recognizer_id = preferred_model(store, "recognizer", options.preferred_models)
                swapper_id = self._swapper_id(store, options)
                report("loading recognizer", 0.3)
                model, session, info = self._session(store, recognizer_id, options)
                self._recognizer = FaceRecognizer(model.path, session, model.data)
                self._health.set_model(self._model_health(recognizer_id, "recognizer", info))
                self._identities = IdentityBuilder(self._detector, self._recognizer)
                report("loading swapper", 0.55)
                self._load_swapper(store, swapper_id, options)
            if options.load_enhancer:
                report("loading enhancer", 0.75)
                self._load_enhancer(store, options)
            if options.load_lip_syncer:
                report("loading lip syncer", 0.85)
                self._load_lip_syncer(store, options)
            if options.warmup:
                report("warming up", 0.9)
                self._warm_up()
            self._health.loaded = True
            report("ready", 1.0)

    def _model_store(self, options: LoadOptions) -> ModelStore:
        if self._store_given and self._store is not None:
            return self._store
        from engines.models.store import ModelStore

        if options.models_dir is None and options.models_override is None:
            raise ModelError("no models folder configured", "pass --models DIR or set SWAPCAST_HOME")
        return ModelStore.resolve(options.models_dir or Path("."), options.models_override)

    @staticmethod
    def _swapper_id(store, options: LoadOptions) -> str:
        if options.swapper_id:
            return options.swapper_id
        default = store.default_for("swapper").id
        precision = options.swapper_precision
        if precision == "auto":
            # fp16 is ~25 % faster on GPUs (and guarded by the junk-output fallback); slower on CPUs.
            precision = "fp16" if resolve_providers(options.providers)[0] != CPU else "fp32"
        if precision == "fp16":
            fp16 = f"{default}_fp16"
            if any(spec.id == fp16 for spec in store.specs()):
                return fp16
        return default

    def _session(self, store, model_id: str, options: LoadOptions):
        # Read once and hashed: onnxruntime (and the model's own readers) get those very bytes, so
        # a file swapped after the check never runs. A one-line ModelError names file, URL, folder.
        model = store.open_verified(model_id)
        session, info = create_session(model.path, options.providers, options.threads, options.tensorrt_cache,
                                       model_bytes=model.data, model_sha256=model.sha256)
        return model, session, info

    @staticmethod
    def _model_health(model_id: str, role: str, info: SessionInfo, note: str | None = None) -> ModelHealth:
        return ModelHealth(model_id=model_id, role=role, loaded=True, provider=info.provider,
                           requested=info.requested, fallback_reason=info.fallback_reason, note=note)

    def _load_swapper(self, store, swapper_id: str, options: LoadOptions, note: str | None = None) -> None:
        model, session, info = self._session(store, swapper_id, options)
        self._swapper = Swapper(model.path, session, model.data)
        self._swapper_model_id = swapper_id
        self._latents.clear()
        self._health.set_model(self._model_health(swapper_id, "swapper", info, note))

    def _load_enhancer(self, store, options: LoadOptions) -> None:
        enhancer_id = store.default_for("enhancer").id
        model, session, info = self._session(store, enhancer_id, options)
        self._enhancer = FaceEnhancer(model.path, session)
        self._health.set_model(self._model_health(enhancer_id, "enhancer", info))

    @staticmethod
    def _lip_syncer_id(store, options: LoadOptions) -> str:
        return options.lip_syncer_id or preferred_model(store, "lip_syncer", options.preferred_models)

    def _load_lip_syncer(self, store, options: LoadOptions) -> None:
        lip_syncer_id = self._lip_syncer_id(store, options)
        model, session, info = self._session(store, lip_syncer_id, options)
        try:
            self._lip_syncer = LipSyncer(model.path, session)
        except ValueError as error:
            raise ModelError(str(error), "pick a Wav2Lip model (`swapcast models list`, role lip_syncer)") from None
        if options.warmup:
            self._lip_syncer.warm_up()
        self._health.set_model(self._model_health(lip_syncer_id, "lip_syncer", info))

    def ensure_lip_syncer(self) -> None:
        """Load the lip syncer on first use (a live toggle, a job that asks for it). A failure is kept
        (the health panel shows it on the lip_syncer row) and raised again without re-reading the
        file on every frame, until the next load()."""
        if self._lip_syncer is None:
            with self._load_lock:
                if self._lip_syncer is not None:
                    return
                if self._lip_syncer_error is not None:
                    raise self._lip_syncer_error
                try:
                    self._load_lip_syncer(self._loaded_store(), self._options)
                except ModelError as error:
                    self._lip_syncer_error = error
                    try:
                        model_id = self._lip_syncer_id(self._loaded_store(), self._options)
                    except ModelError:
                        model_id = "-"  # the models folder lists no lip syncer at all
                    self._health.set_model(ModelHealth(model_id=model_id, role="lip_syncer", loaded=False,
                                                       provider="-", healthy=False, note=error.one_line()))
                    raise

    def ensure_enhancer(self) -> None:
        """Load the enhancer on first use (the live toggle), without touching the other models."""
        if self._enhancer is None:
            with self._load_lock:
                if self._enhancer is None:
                    self._load_enhancer(self._loaded_store(), self._options)

    def _loaded_store(self) -> ModelStore:
        if self._store is None:
            raise ModelError("engine not loaded", "call load() first")
        return self._store

    def _warm_up(self) -> None:
        """First runs allocate and tune kernels; pay for that now, not on the first live frame."""
        assert self._detector
        self._detector.detect(np.zeros((self._options.det_size, self._options.det_size, 3), np.uint8))
        if self._swapper is None:
            return
        noise = np.random.default_rng(0).integers(0, 255, (self._swapper.size, self._swapper.size, 3), np.uint8)
        latent = self._swapper.latent(np.ones(512, np.float32) / np.sqrt(512))
        try:
            self._swapper.swap([noise], [latent])
        except SwapOutputError:
            pass  # judged on real faces, not on noise

    # ---- identities ------------------------------------------------------------------------
    def identity(self, paths: Sequence[Path], name: str | None = None, face_index: int | None = None) -> Identity:
        if self._identities is None:
            if self._detector is not None:  # loaded for lip sync only
                raise ModelError("this engine was loaded without the recognizer (lip sync only)",
                                 "load it with LoadOptions(load_swapper=True) to use source photos")
            raise ModelError("engine not loaded", "call load() first")
        return self._identities.identity([Path(p) for p in paths], name, face_index)

    def faces(self, frame: Frame) -> list[DetectedFace]:
        assert self._detector is not None
        return self._detector.detect(frame)

    # ---- processing ------------------------------------------------------------------------
    def process(self, frame: Frame, context: SwapContext) -> Frame:
        return self.process_batch([frame], context)[0]

    def process_batch(self, frames: Sequence[Frame], context: SwapContext) -> list[Frame]:
        if context.bypass or self._detector is None or not (self._swaps(context) or lip_sync_asked(context)):
            return list(frames)
        try:
            out = self._swap_frames(frames, context)
        except Exception as error:  # noqa: BLE001 — the stream must survive any model failure
            message = f"{type(error).__name__}: {error}"
            self._health.failure(len(frames), message)
            if context.on_error == "raise":
                raise
            log.warning("frame passed through unchanged: %s", message)
            return list(frames)
        self._health.success(len(frames))
        return out

    def _swaps(self, context: SwapContext) -> bool:
        return context.swap_faces and self._swapper is not None

    def _swap_frames(self, frames: Sequence[Frame], context: SwapContext) -> list[Frame]:
        assert self._detector
        stream_timer = context.stream_state.get(STREAM_TIMER)
        timer = TimerSet(self.timer, stream_timer) if isinstance(stream_timer, StageTimer) else self.timer
        with timer.stage("detect"):
            detected = [self._detector.detect(frame) for frame in frames]
        if context.smoothing:
            smoother = context.stream_state.setdefault("smoother", KeypointSmoother())
            for i, faces in enumerate(detected):
                smoother.smooth(faces, frame_clock(context, i))  # type: ignore[union-attr]
        if needs_embeddings(context):
            if self._recognizer is None:
                raise ModelError(f"face mode {context.selection} needs the recognizer, which was not loaded",
                                 "load the engine with swapping on, or pick largest/all/position")
            with timer.stage("recognize"):
                for frame, faces in zip(frames, detected):
                    embeddings = self._recognizer.embed(frame, [f.kps for f in faces])
                    for face, embedding in zip(faces, embeddings):
                        face.embedding = embedding
        out: list[Frame] = list(frames)
        done = self._swap_into(out, frames, detected, context, timer) if self._swaps(context) else set()
        lip_sync = lip_sync_frames(context, len(frames))
        if lip_sync is not None:
            done |= self._lip_sync_into(out, frames, detected, context, lip_sync, timer)
        if len(done) < len(frames):
            context.count(FRAMES_WITHOUT_FACE, len(frames) - len(done))
        return out

    def _swap_into(self, out: list[Frame], frames: Sequence[Frame], detected: list[list[DetectedFace]],
                   context: SwapContext, timer: StageTimer | TimerSet) -> set[int]:
        """Swaps (and enhances) the selected faces into `out`; the indices of the frames it changed."""
        assert self._swapper is not None
        swapper = self._swapper
        template = swapper.template
        with timer.stage("align"):
            jobs = [
                _Job(i, face, identity, estimate_similarity(face.kps, template))
                for i, faces in enumerate(detected)
                for face, identity in select(faces, context)
            ]
            crops = [crop(frames[job.frame_index], job.matrix, swapper.size) for job in jobs]
        if not jobs:
            return set()
        with timer.stage("swap"):
            swapped = self._swap_with_fallback(crops, [self._latent(job.identity) for job in jobs])
        with timer.stage("paste"):
            mask = blend_mask(swapper.size, context.mouth_mask)
            for job, face_crop, result in zip(jobs, crops, swapped):
                if out[job.frame_index] is frames[job.frame_index] and not context.in_place:
                    out[job.frame_index] = frames[job.frame_index].copy()  # the caller's frame stays as it was
                if context.color_correction > 0:
                    result = match_mean_color(result, face_crop, mask.alpha, context.color_correction)
                paste_back(out[job.frame_index], result, mask, job.matrix, face_crop)
        if context.enhance:
            with timer.stage("enhance"):
                self.ensure_enhancer()
                assert self._enhancer is not None
                for job in jobs:
                    self._enhancer.enhance(out[job.frame_index], job.face.kps, context.enhance_blend)
        return {job.frame_index for job in jobs}

    def _lip_sync_into(self, out: list[Frame], frames: Sequence[Frame], detected: list[list[DetectedFace]],
                       context: SwapContext, lip_sync: Sequence[LipSyncFrame],
                       timer: StageTimer | TimerSet) -> set[int]:
        """Redraws the mouths of the selected faces in `out` (after the swap, on the same detections);
        the indices of the frames that had a face to lip-sync."""
        self.ensure_lip_syncer()
        assert self._lip_syncer is not None
        state = context.stream_state.setdefault(LIP_SYNC_STATE, {})
        assert isinstance(state, dict)
        done: set[int] = set()
        with timer.stage("lip_sync"):
            for i, (faces, audio) in enumerate(zip(detected, lip_sync)):
                targets = lip_sync_targets(faces, context)
                if targets:
                    done.add(i)
                if context.timestamp is not None or context.frame_times is not None:
                    state["t"] = frame_clock(context, i)
                out[i] = self._lip_syncer.sync(out[i], targets, audio.mel, audio.weight, state,
                                               in_place=context.in_place or out[i] is not frames[i])
        return done

    def _latent(self, identity: Identity) -> np.ndarray:
        key = identity.embedding.tobytes()
        latent = self._latents.get(key)
        if latent is None:
            assert self._swapper is not None
            latent = self._latents[key] = self._swapper.latent(identity.embedding)
        return latent

    def _swap_with_fallback(self, crops: list[np.ndarray], latents: list[np.ndarray]) -> list[np.ndarray]:
        assert self._swapper is not None
        try:
            return self._swapper.swap(crops, latents)
        except SwapOutputError as error:
            fp32 = self._swapper_model_id.removesuffix("_fp16")
            if fp32 == self._swapper_model_id:
                self._health.mark_model("swapper", False, str(error))
                raise
            # A broken fp16 build on this GPU: never stream junk, switch to fp32 for good.
            note = f"{self._swapper_model_id} gave invalid output ({error}); switched to {fp32}"
            log.warning(note)
            with self._load_lock:
                self._load_swapper(self._loaded_store(), fp32, self._options, note)
            # Both files share emap, so the latents stay valid across the switch.
            return self._swapper.swap(crops, latents)

    # ---- state -----------------------------------------------------------------------------
    def health(self) -> EngineHealth:
        return self._health.snapshot(self.timer.means())

    def release(self) -> None:
        with self._load_lock:
            self._detector = self._recognizer = self._swapper = self._enhancer = self._lip_syncer = None
            self._identities = None
            self._lip_syncer_error = None
            self._latents.clear()
            self._health = HealthTracker()

