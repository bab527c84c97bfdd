"""Deep-Live-Cam through its CLI: `python run.py -s SOURCE -t TARGET -o OUTPUT --execution-provider …`.

Contract taken from Deep-Live-Cam's modules/core.py (parse_args, start, update_status) and
modules/metadata.py as of 1.6.0 (the flags are unchanged in 2.x): one source image; --keep-fps,
--keep-audio, --many-faces, --frame-processor face_swapper [face_enhancer], --video-encoder
{libx264,libx265,libvpx-vp9}, --video-quality 0..51 (CRF). It reports through "[DLC.CORE] …" lines and
exits 0 even when it refuses the inputs, so its messages decide the verdict.
"""

from __future__ import annotations

from .base import SwapRequest, lip_sync_refusal
from .cli_adapter import CliAdapter, UserErrorPhrase
from .config import Mode
from .errors import EngineFailure
from .install import InstallInfo, InstallSpec
from .process import ProcessOutcome

DEEP_LIVE_CAM_INSTALL = InstallSpec(
    product="Deep-Live-Cam",
    entry="run.py",
    metadata="modules/metadata.py",
    version_pattern=r"(?m)^version\s*=\s*['\"]([^'\"]+)['\"]",
    min_version="1.0",
    min_version_why="its -s/-t/-o command line",
    min_python=(3, 9),
)

DEEP_LIVE_CAM_USER_ERRORS = (
    UserErrorPhrase("no face in source path detected", "source"),
    UserErrorPhrase("select an image for source path", "source"),
    UserErrorPhrase("select an image or video for target path", "target"),
)


def crf_from_quality(quality: int) -> int:
    """The app's 0..100 (higher is better) → CRF 0..51, as the built-in path maps it."""
    return round(51 - max(0, min(100, quality)) * 0.51)


class DeepLiveCamAdapter(CliAdapter):
    install_spec = DEEP_LIVE_CAM_INSTALL
    user_errors = DEEP_LIVE_CAM_USER_ERRORS

    def unsupported(self, request: SwapRequest) -> str | None:
        if refusal := lip_sync_refusal(request):
            return refusal
        product = self.install_spec.product  # iRoop reuses this adapter
        if len(request.sources) > 1:
            return f"{product} takes one source photo"
        if request.faces == "reference":
            return f"{product} maps faces interactively, not from a reference photo"
        if request.source_face is not None:
            return f"{product} picks the source photo's face itself (no --source-face)"
        if request.trim is not None:
            return f"{product} cannot trim"
        if not request.audio:
            return f"{product} always keeps the target's audio"
        if request.encoder not in ("auto", "libx264", "libx265"):
            return f"{product} has no {request.encoder} encoder"
        return None

    def build_argv(self, info: InstallInfo, request: SwapRequest, output: str) -> list[str]:
        processors = ["face_swapper"] + (["face_enhancer"] if request.enhance else [])
        argv = [info.python, str(info.entry), "-s", str(request.sources[0]), "-t", str(request.target),
                "-o", output, "--frame-processor", *processors, "--keep-fps", "--keep-audio"]
        if request.faces == "all":
            argv.append("--many-faces")
        if request.mode is Mode.IMAGE_TO_VIDEO:
            if request.encoder in ("libx264", "libx265"):
                argv += ["--video-encoder", request.encoder]
            if request.quality is not None:
                argv += ["--video-quality", str(crf_from_quality(request.quality))]
        if self.config.execution_providers:
            argv += ["--execution-provider", *self.config.execution_providers]
        return argv + list(self.config.extra_args)

    def judge(self, outcome: ProcessOutcome, messages: list[str], request: SwapRequest, done: int, total: int) -> None:
        super().judge(outcome, messages, request, done, total)
        for line in messages:
            if "processing to image failed" in line.lower() or "processing to video failed" in line.lower():
                raise EngineFailure(f"{self.name} failed: {line.strip()[:160]}")
