"""FaceFusion behind an HTTP server: `GET /health`, then `POST /process` with the files.

FaceFusion itself ships no such endpoint in 3.x (its own API, in development upstream, is
session-based: /session, /assets, /jobs, /stream). `POST /process` taking the source and target as a
multipart upload and answering with the output file is the shape the community's FaceFusion
servers commonly expose; docs/ENGINES.md gives the exact contract this adapter speaks:

- GET  /health  → 200 {"status": "ok", "version": "3.6.0"}; anything else: down.
- POST /process → multipart fields `source` (one or more files), `target` (one file) and `options`
  (JSON: mode, processors, face_selector_mode, output_video_quality, output_video_encoder).
  200: the body is the output file. 422 {"error": "...", "about": "source"|"target"}: the inputs
  cannot be used. 5xx (and connection errors): worth a retry. Other 4xx: this server does not speak
  the contract.

Where the files may go (this machine unless `allowRemote`, never to another origin by a redirect)
is engines/external/origin.py's job; every request here goes through its session.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import requests

from engines.errors import InputError, TransientError

from .base import Availability, EngineAdapter, ProgressCallback, SwapRequest, SwapResult, lip_sync_refusal
from .config import EngineConfig, Mode
from .errors import EngineFailure, SourceError
from .facefusion_cli import ENCODERS
from .origin import CrossOriginRedirect, DestinationRefused, OriginBoundSession
from .outputs import discard, finalize, temp_output
from .server import ServerSupervisor

HEARTBEAT_S = 0.25


class FaceFusionHttpAdapter(EngineAdapter):
    def __init__(self, config: EngineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(config)
        self._clock = clock
        self.supervisor = (ServerSupervisor(config.launch, self._answers, name=config.name, clock=clock)
                           if config.launch else None)

    def _session(self) -> OriginBoundSession:
        """A session bound to the engine's origin; EngineUnavailable when files may not go there."""
        return OriginBoundSession(self.name, self.config.url, self.config.allow_remote)

    # ---- health ----------------------------------------------------------------------------
    def _health(self) -> tuple[bool, str | None, str | None]:
        """(up, version, why not)."""
        url = f"{self.config.url}/health"
        try:
            with self._session() as session:
                response = session.get(url, timeout=self.config.timeouts.health_s)
        except (DestinationRefused, CrossOriginRedirect) as refused:
            return False, None, refused.reason
        except requests.ConnectionError:
            return False, None, (f"server at {self.config.url} is down (connection refused) — start it, or give it "
                                 f"a `launch` command in integrations.json so SwapCast starts it")
        except requests.Timeout:
            return False, None, f"server at {self.config.url} did not answer within {self.config.timeouts.health_s:g} s"
        except requests.RequestException as error:
            return False, None, f"server at {self.config.url} cannot be reached: {error}"
        if response.status_code != 200:
            return False, None, f"server at {self.config.url} answers /health with HTTP {response.status_code}"
        try:
            body = response.json()
        except ValueError:
            return False, None, f"server at {self.config.url} answers /health with something other than JSON"
        status = str(body.get("status", "")) if isinstance(body, dict) else ""
        version = str(body.get("version")) if isinstance(body, dict) and body.get("version") else None
        if status != "ok":
            return False, version, f"server at {self.config.url} reports status {status or 'missing'!r}"
        return True, version, None

    def _answers(self) -> bool:
        return self._health()[0]

    def check(self) -> Availability:
        if not self.config.url:
            return Availability.no("no url set", None)
        started = time.monotonic()
        up, version, reason = self._health()
        latency = (time.monotonic() - started) * 1000
        if up:
            return Availability(True, None, version, latency_ms=latency)
        if self.supervisor is not None:
            state = self.supervisor.state()
            if state.exit_code is not None and not state.running:
                reason = f"{reason}; its process exited with code {state.exit_code}"
        return Availability(False, reason, version, latency_ms=latency)

    @property
    def restartable(self) -> bool:
        return self.supervisor is not None

    def restart(self) -> bool:
        return self.supervisor.ensure_running() if self.supervisor is not None else False

    def close(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()

    # ---- processing ------------------------------------------------------------------------
    def unsupported(self, request: SwapRequest) -> str | None:
        if refusal := lip_sync_refusal(request):
            return refusal
        if request.faces == "reference":
            return "the server cannot take a reference photo"
        if request.source_face is not None:
            return "the server averages every face of the source photos (no --source-face)"
        if request.trim is not None:
            return "trimming is not part of the server's contract"
        if not request.audio:
            return "the server always keeps the target's audio"
        if request.encoder not in ("auto", *ENCODERS):
            return f"FaceFusion has no {request.encoder} encoder"
        return None

    def options(self, request: SwapRequest) -> dict[str, Any]:
        options: dict[str, Any] = {
            "mode": request.mode.value,
            "processors": ["face_swapper"] + (["face_enhancer"] if request.enhance else []),
            "face_selector_mode": "many" if request.faces == "all" else "one",
        }
        if request.quality is not None:
            options["output_video_quality" if request.mode is Mode.IMAGE_TO_VIDEO else "output_image_quality"] = request.quality
        if request.encoder in ENCODERS:
            options["output_video_encoder"] = request.encoder
        if self.config.execution_providers:
            options["execution_providers"] = list(self.config.execution_providers)
        return options

    def run(self, request: SwapRequest, progress: ProgressCallback) -> SwapResult:
        session = self._session()  # refuses a destination the files may not go to, before anything is sent
        up, version, reason = self._health()  # health check first: a down server is not a failed job
        if not up:
            session.close()
            raise TransientError(f"{self.name}: {reason}", "it will be retried, then another engine is used")
        produced = temp_output(request.output, self.name)
        total = max(1, request.frames_hint)
        outcome: dict[str, object] = {}

        def post() -> None:
            try:
                outcome["status"] = self._post(session, request, produced)
            except BaseException as error:  # noqa: BLE001 — handed to the caller's thread
                outcome["error"] = error

        worker = threading.Thread(target=post, name=f"{self.name}-request", daemon=True)
        try:
            worker.start()
            # The request blocks; the caller's thread keeps reporting so a cancel is noticed.
            while worker.is_alive():
                worker.join(HEARTBEAT_S)
                progress(0, total)
            if "error" in outcome:
                raise outcome["error"]  # type: ignore[misc]
            finalize(self.name, version, produced, request.output, request.mode is Mode.IMAGE_TO_IMAGE)
        finally:
            session.close()  # a cancelled request's connection is dropped here
            discard(produced)
        frames = total if request.mode is Mode.IMAGE_TO_VIDEO else 1
        progress(frames, frames)
        return SwapResult(output=request.output, engine=self.name, frames=frames)

    def _post(self, session: requests.Session, request: SwapRequest, produced: Path) -> int:
        url = f"{self.config.url}/process"
        timeouts = self.config.timeouts
        with ExitStack() as files:
            upload = [("source", (s.name, files.enter_context(open(s, "rb")))) for s in request.sources]
            upload.append(("target", (request.target.name, files.enter_context(open(request.target, "rb")))))
            try:
                response = session.post(url, files=upload, data={"options": json.dumps(self.options(request))},
                                        timeout=(timeouts.health_s, timeouts.total_s), stream=True)
            except requests.Timeout:
                raise TransientError(f"{self.name}: no answer from {url} within {timeouts.total_s:g} s") from None
            except requests.ConnectionError as error:
                raise TransientError(f"{self.name}: lost the connection to {url} ({_short(error)})") from None
        with response:
            status = response.status_code
            if status == 200:
                with open(produced, "wb") as out:
                    for chunk in response.iter_content(1 << 20):
                        out.write(chunk)
                return status
            message = _error_text(response)
            if status == 422:
                about = _about(response)
                if about == "source":
                    names = ", ".join(str(s) for s in request.sources)
                    raise SourceError(f"no usable face in {names} ({self.name} says: {message})",
                                      "use a clear, front-facing photo of one face")
                raise InputError(f"{request.target}: {self.name} cannot use this target ({message})")
            if status >= 500 or status == 429:
                raise TransientError(f"{self.name}: server error HTTP {status} ({message})", "it will be retried")
            raise EngineFailure(f"{self.name}: {url} answered HTTP {status} ({message}); "
                                "does the server speak the /process contract of docs/ENGINES.md?")


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:160]


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content[:65536] or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_text(response: requests.Response) -> str:
    body = _json(response)
    text = body.get("error") or body.get("detail") or response.text[:160]
    return str(text).strip().splitlines()[0][:160] if str(text).strip() else "no details"


def _about(response: requests.Response) -> str:
    body = _json(response)
    if "about" in body:
        return str(body["about"])
    return "source" if "source" in _error_text(response).lower() else "target"

