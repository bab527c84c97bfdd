"""Start-up, on the session's supervisor thread: check the outputs, load the engine (and the
enhancer when wanted), recognise the source faces, open the camera, then start the processor and
the outputs. Each step checks whether the session was stopped meanwhile; what was built so far is
kept in `Pipeline` so the teardown stops exactly that."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from engines.base import Engine, SwapContext
from engines.builtin.runtime.timing import STREAM_TIMER, StageTimer
from engines.errors import InputError

from .api import LiveConfig
from .avatar import open_avatar
from .capture import Capture, SourceInfo, open_source
from .control_panel import ControlPanel
from .controls import check_face_mode
from .engine_tasks import load_enhancer, load_lip_syncer, recognise
from .output_set import OutputSet
from .outputs import Listeners, PreviewOutput
from .lip_sync import LipSyncStage
from .preflight import check_outputs
from .processor import Processor
from .slot import LatestSlot
from .stats import PipelineStats
from .status import StatusLine, Topic

# Temporal keypoint smoothing (One Euro) steadies the swapped face without lag on motion.
LIVE_SMOOTHING = True


@dataclass
class Pipeline:
    """What start-up has built so far."""

    engine: Engine | None = None
    capture: Capture | None = None
    processor: Processor | None = None
    source_info: SourceInfo | None = None
    lip_sync: LipSyncStage | None = None


@dataclass(frozen=True)
class StartUp:
    config: LiveConfig
    controls: ControlPanel
    outputs: OutputSet
    listeners: Listeners
    stats: PipelineStats
    stage_timer: StageTimer
    status: StatusLine
    stopping: threading.Event
    load_engine: Callable[[], Engine]

    def run(self, pipeline: Pipeline) -> None:
        config, board = self.config, self.controls.board
        check_outputs(config, len(self.listeners))  # before anything slow: a refusal comes at once
        lip = pipeline.lip_sync = self._lip_sync() if config.lip_sync else None
        self.status.set(Topic.SESSION, "loading models")
        engine = pipeline.engine = self.load_engine()
        if self.stopping.is_set():
            return
        if board.state.enhance:
            self.status.set(Topic.SESSION, "loading the enhancer")
            load_enhancer(engine)
            board.update(enhancer_ready=True)
        if lip is not None:
            self.status.set(Topic.SESSION, "loading the lip syncer")
            load_lip_syncer(engine)
        self.status.set(Topic.SESSION, "recognising the source face(s)")
        groups = self.controls.take_pending_groups() or config.identities
        if not groups and lip is None:
            raise InputError("no source face given", "pass -s PHOTO (one or more)")
        identities = recognise(engine, groups) if groups else ()
        references = recognise(engine, [(p,) for p in config.references]) if config.references else ()
        board.update(identities=identities, references=references,
                     active_source=max(0, min(board.state.active_source, len(identities) - 1)))
        self.controls.note_face_mode(board.state.face_mode)
        self.controls.attach(engine)  # controls asked for meanwhile run now, off this thread
        if self.stopping.is_set():
            return
        self.status.set(Topic.SESSION, f"opening {config.avatar or config.camera}")
        source = open_avatar(config.avatar, config.fps) if config.avatar else open_source(config.camera, config.size, config.fps)
        capture = pipeline.capture = Capture(source, lip.delay if lip is not None else LatestSlot(1), self.stats,
                                             lambda text: self.status.set(Topic.CAMERA, text))
        pipeline.source_info = capture.open()
        state = board.state
        context = SwapContext(identities=list(state.identities), active=state.active_source,
                              selection=check_face_mode(state.face_mode), enhance=state.enhancing,
                              smoothing=LIVE_SMOOTHING, on_error="pass", in_place=True,
                              stream_state={STREAM_TIMER: self.stage_timer})
        if lip is not None:
            context.swap_faces = bool(identities)  # lip sync alone when no source face was given
        processor = pipeline.processor = Processor(engine, context, capture.slot, self.outputs.hub, self.stats, board,
                                                   lambda text: self.status.set(Topic.ENGINE, text),
                                                   prepare=lip.prepare if lip else None, done=lip.done if lip else None)
        if lip is not None:
            lip.open()
            self.outputs.attach_audio(lip.feed.tap)
        self.outputs.go_live(pipeline.source_info,
                             PreviewOutput(self.listeners, window=config.preview, stats=self.stats,
                                           on_close=self.stopping.set))
        self.stats.reset_clock()
        if lip is not None:
            lip.start()  # the sound first: the delay line holds frames until their audio is in
        processor.start()
        capture.start()

    def _lip_sync(self) -> LipSyncStage:
        from app.devices.audio_input import open_audio_input

        config = self.config
        if not config.audio_in:
            raise InputError("lip sync needs an audio input", "add --audio-in DEVICE|FILE (`swapcast live --list-audio` lists devices)")
        self.status.set(Topic.SESSION, f"opening the audio input {config.audio_in}")
        # Resolved now (a wrong device or file is refused before models load); opened just before
        # the frames start, so no sound piles up while models load.
        return LipSyncStage(open_audio_input(config.audio_in), self.stats, config.lip_sync_weight,
                            lambda text: self.status.set(Topic.CAMERA, text))
