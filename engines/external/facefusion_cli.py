"""FaceFusion through its headless CLI: `python facefusion.py headless-run -s … -t … -o …`.

Contract taken from FaceFusion 3.x (read at 3.6.0: facefusion/args.py, core.py, metadata.py; the
error codes from docs.facefusion.io 3.6.1 "Error Codes"): 0 graceful exit, 1 fatal exit, 2 check
failed, 3 content declined, 4 process stopped. `headless-run` appeared in 3.0.0.
"""

from __future__ import annotations

from .base import SwapRequest, lip_sync_refusal
from .cli_adapter import CliAdapter, UserErrorPhrase
from .config import Mode
from .install import InstallInfo, InstallSpec

FACEFUSION_INSTALL = InstallSpec(
    product="FaceFusion",
    entry="facefusion.py",
    metadata="facefusion/metadata.py",
    version_pattern=r"['\"]version['\"]\s*:\s*['\"]([^'\"]+)['\"]",
    min_version="3.0.0",
    min_version_why="headless-run",
    min_python=(3, 10),
)

# Its messages (facefusion/wording.py) for inputs it cannot use.
FACEFUSION_USER_ERRORS = (
    UserErrorPhrase("no source face detected", "source"),
    UserErrorPhrase("choose an image for the source", "source"),
    UserErrorPhrase("choose an image or audio for the source", "source"),
    UserErrorPhrase("select a image for source path", "source"),
    UserErrorPhrase("choose an image or video for the target", "target"),
    UserErrorPhrase("select a image or video for target path", "target"),
)

ENCODERS = {"libx264", "libx265", "h264_nvenc", "hevc_nvenc"}


class FaceFusionCliAdapter(CliAdapter):
    install_spec = FACEFUSION_INSTALL
    user_errors = FACEFUSION_USER_ERRORS
    exit_meanings = {1: "fatal exit", 2: "check failed", 3: "content declined", 4: "process stopped"}

    def refusal_codes(self) -> tuple[int, ...]:
        return (2, 3, 4)

    def unsupported(self, request: SwapRequest) -> str | None:
        if refusal := lip_sync_refusal(request):
            return refusal
        if request.faces == "reference":
            return "FaceFusion picks reference faces by frame position, not from a reference photo"
        if request.source_face is not None:
            return "FaceFusion averages every face of the source photos (no --source-face)"
        if request.trim is not None:
            return "trimming is not passed to FaceFusion (it counts frames, not seconds)"
        if not request.audio:
            return "FaceFusion always keeps the target's audio"
        if request.encoder not in ("auto", *ENCODERS):
            return f"FaceFusion has no {request.encoder} encoder"
        return None

    def build_argv(self, info: InstallInfo, request: SwapRequest, output: str) -> list[str]:
        processors = ["face_swapper"] + (["face_enhancer"] if request.enhance else [])
        argv = [info.python, str(info.entry), "headless-run",
                "--source-paths", *[str(s) for s in request.sources],
                "--target-path", str(request.target),
                "--output-path", output,
                "--processors", *processors,
                "--log-level", "info"]
        if request.faces == "all":
            argv += ["--face-selector-mode", "many"]
        else:  # "largest": one face, the biggest first
            argv += ["--face-selector-mode", "one", "--face-selector-order", "large-small"]
        if request.quality is not None:
            flag = "--output-image-quality" if request.mode is Mode.IMAGE_TO_IMAGE else "--output-video-quality"
            argv += [flag, str(request.quality)]
        if request.mode is Mode.IMAGE_TO_VIDEO and request.encoder in ENCODERS:
            argv += ["--output-video-encoder", request.encoder]
        if self.config.execution_providers:
            argv += ["--execution-providers", *self.config.execution_providers]
        return argv + list(self.config.extra_args)
