"""ComfyUI's server protocol, as its server.py speaks it and script_examples/websockets_api_example.py
uses it: files over HTTP, the run followed over a WebSocket.

- `POST /upload/image` (multipart `image`, `overwrite`) → `{name, subfolder, type}`;
- `GET /ws?clientId=ID`, opened before the prompt so no message is missed; JSON `{type, data}`
  messages (`execution_start`, `execution_cached`, `executing`, `progress`, `executed`,
  `execution_success` / `execution_error` / `execution_interrupted`, `status`) and binary preview
  frames, which are read and dropped;
- `POST /prompt {prompt, client_id}` → `{prompt_id, number, node_errors}`, or 400 with `error` and
  `node_errors` (one line here: the node, its class and the problem);
- the run ends with `executing {node: null}` for the prompt (ComfyUI writes the history just before);
  then `GET /history/{id}` and `GET /view?filename=&subfolder=&type=`;
- a dropped socket is reopened with the same client id, and where the run stands is read from
  `/history/{id}` and `GET /queue` (messages sent while it was closed are lost);
- cancel: `POST /interrupt {prompt_id}` and `POST /queue {delete: [id]}`.

Every HTTP request goes through origin.py's session (this machine unless allowRemote, no redirect
to another origin), and the socket goes to the same origin, without the environment's proxy when
the server is on this machine.
"""

from __future__ import annotations

import inspect
import json
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from engines.errors import TransientError

from ..config import Timeouts
from ..errors import EngineFailure, EngineTimeout
from ..origin import OriginBoundSession

TICK_S = 0.25  # how often the caller hears from us while we wait (a cancel is noticed this fast)
POLL_SILENT_S = 2.0  # silence after which /history is asked where the prompt stands
RECONNECT_S = 10.0  # at most this long (and never past idleS) to reopen a dropped socket
MAX_MESSAGE = 64 << 20  # previews of large images come as one binary message


class ServerUnreachable(EngineFailure):
    """The server does not answer (down, refused, gone mid-job): the next engine takes the job."""


class PromptRefused(EngineFailure):
    """POST /prompt answered 400: the workflow does not validate on this server."""


class PromptCancelled(Exception):
    """The prompt was interrupted at our request."""


@dataclass(frozen=True)
class ImageRef:
    filename: str
    subfolder: str
    type: str


def ws_url(base: str, client_id: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws", f"clientId={client_id}", ""))


def refusal_line(body: Any) -> str:
    """One line of a 400 from /prompt: the first node error (node, class, problem), else the error."""
    if not isinstance(body, dict):
        return "the server refused the workflow"
    node_errors = body.get("node_errors") if isinstance(body.get("node_errors"), dict) else {}
    for node, info in node_errors.items():
        errors = info.get("errors") if isinstance(info, dict) else None
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        problem = ": ".join(str(part) for part in (first.get("message"), first.get("details")) if part) or "invalid"
        more = f" (and {len(node_errors) - 1} more node(s))" if len(node_errors) > 1 else ""
        return f"node {node} ({info.get('class_type', '?')}): {problem}{more}"
    error = body.get("error")
    if isinstance(error, dict):
        return ": ".join(str(part) for part in (error.get("message"), error.get("details")) if part) or "invalid prompt"
    return str(error or "the server refused the workflow")


class ComfyClient:
    def __init__(self, name: str, url: str, allow_remote: bool, timeouts: Timeouts,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.url = url
        self.timeouts = timeouts
        self.client_id = uuid.uuid4().hex
        self._clock = clock
        self._session = OriginBoundSession(name, url, allow_remote)  # DestinationRefused before anything is sent
        self._proxy: bool | None = True if self._session.trust_env else None
        self._socket: ClientConnection | None = None
        # Entered as a context manager: websockets 17 deprecates a bare connect() (works from 12 on).
        self._sockets = ExitStack()

    def close(self) -> None:
        self._sockets.close()
        self._socket = None
        self._session.close()

    # ---- HTTP ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, f"{self.url}{path}", timeout=timeout or self.timeouts.health_s,
                                         **kwargs)
        except requests.ConnectionError as error:
            refused = "refused" in str(error).lower()
            raise ServerUnreachable(f"{self.name}: server at {self.url} is down"
                                    f"{' (connection refused)' if refused else f' ({_short(error)})'} — start "
                                    "ComfyUI there (python main.py --listen HOST --port PORT), or set its url "
                                    "in integrations.json") from None
        except requests.Timeout:
            raise ServerUnreachable(f"{self.name}: server at {self.url} did not answer {path} within "
                                    f"{timeout or self.timeouts.health_s:g} s") from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        if response.status_code != 200:
            raise EngineFailure(f"{self.name}: {self.url}{path} answered HTTP {response.status_code}; "
                                "is this a ComfyUI server?")
        try:
            return response.json()
        except ValueError:
            raise EngineFailure(f"{self.name}: {self.url}{path} answered with something other than JSON; "
                                "is this a ComfyUI server?") from None

    def object_info(self) -> dict[str, Any]:
        info = self._json("GET", "/object_info", timeout=max(self.timeouts.health_s, 30.0))
        return info if isinstance(info, dict) else {}

    def version(self) -> str | None:
        try:
            stats = self._json("GET", "/system_stats")
        except EngineFailure:
            return None  # older servers: no version to show, nothing wrong
        system = stats.get("system") if isinstance(stats, dict) else None
        return str(system["comfyui_version"]) if isinstance(system, dict) and system.get("comfyui_version") else None

    def upload(self, name: str, data: bytes) -> str:
        """Upload an image to the server's input folder; the name a LoadImage node takes."""
        response = self._request("POST", "/upload/image", timeout=self.timeouts.total_s,
                                 files={"image": (name, data, "image/png")}, data={"overwrite": "true", "type": "input"})
        if response.status_code != 200:
            raise EngineFailure(f"{self.name}: uploading {name} failed (HTTP {response.status_code})")
        body = response.json()
        subfolder = str(body.get("subfolder") or "")
        return f"{subfolder}/{body['name']}" if subfolder else str(body["name"])

    def queue_prompt(self, prompt: dict[str, Any], fix: str) -> str:
        response = self._request("POST", "/prompt", json={"prompt": prompt, "client_id": self.client_id})
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 400:
            raise PromptRefused(f"{self.name}: the workflow was refused: {refusal_line(body)}", fix)
        if response.status_code != 200 or not isinstance(body, dict) or "prompt_id" not in body:
            raise EngineFailure(f"{self.name}: POST /prompt answered HTTP {response.status_code}; is this a ComfyUI server?")
        return str(body["prompt_id"])

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        body = self._json("GET", f"/history/{prompt_id}")
        entry = body.get(prompt_id) if isinstance(body, dict) else None
        return entry if isinstance(entry, dict) else None

    def queued(self, prompt_id: str) -> bool:
        """Is the prompt running or waiting on the server? (GET /queue: entries are [number, id, ...].)"""
        body = self._json("GET", "/queue")
        entries = [*body.get("queue_running", []), *body.get("queue_pending", [])] if isinstance(body, dict) else []
        return any(isinstance(entry, list) and len(entry) > 1 and entry[1] == prompt_id for entry in entries)

    def view(self, image: ImageRef) -> bytes:
        response = self._request("GET", "/view", timeout=self.timeouts.total_s,
                                 params={"filename": image.filename, "subfolder": image.subfolder, "type": image.type})
        if response.status_code != 200:
            raise EngineFailure(f"{self.name}: could not fetch the result {image.filename} (HTTP {response.status_code})")
        return response.content

    def cancel(self, prompt_id: str) -> None:
        """Stop the prompt if it runs, and take it off the queue if it waits (best effort)."""
        for path, body in (("/interrupt", {"prompt_id": prompt_id}), ("/queue", {"delete": [prompt_id]})):
            try:
                self._request("POST", path, json=body, timeout=min(self.timeouts.health_s, 5.0))
            except EngineFailure:
                pass  # the server is gone: nothing runs there any more

    # ---- WebSocket -------------------------------------------------------------------------
    def ensure_socket(self) -> None:
        if self._socket is None:
            self.open_socket()

    def open_socket(self) -> None:
        """Open (or reopen) the client's socket; ServerUnreachable if the server does not take it."""
        self._sockets.close()  # the one before, if any
        self._socket = None
        try:
            self._socket = self._sockets.enter_context(connect(
                ws_url(self.url, self.client_id), open_timeout=self.timeouts.health_s, ping_interval=20,
                ping_timeout=20, close_timeout=1, max_size=MAX_MESSAGE,
                compression=None, **self._proxy_option()))  # previews do not compress
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as error:
            raise ServerUnreachable(f"{self.name}: cannot open the WebSocket at {self.url}/ws ({_short(error)})") from None

    def _proxy_option(self) -> dict[str, Any]:
        # websockets 15+ follows the environment's proxy by default: not for a server on this machine.
        # Older releases never use a proxy and have no such argument.
        return {"proxy": self._proxy} if "proxy" in inspect.signature(connect).parameters else {}

    def _reopen(self) -> None:
        deadline = self._clock() + min(RECONNECT_S, self.timeouts.idle_s)
        delay = 0.1
        while True:
            try:
                self.open_socket()
                return
            except ServerUnreachable as error:
                if self._clock() + delay > deadline:
                    raise ServerUnreachable(f"{self.name}: lost the server at {self.url} mid-job "
                                            f"({error.problem.split('(', 1)[-1].rstrip(')')})") from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def follow(self, prompt_id: str, on_progress: Callable[[int, int], None],
               heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Wait for the prompt to finish; its history outputs. `heartbeat` is called every TICK_S and
        may raise to stop (the caller then cancels). Raises EngineFailure, EngineTimeout, PromptCancelled."""
        if self._socket is None:
            self.open_socket()
        started = heard = self._clock()
        while True:
            heartbeat()
            now = self._clock()
            if now - started > self.timeouts.total_s:
                raise EngineTimeout(f"{self.name}: the prompt ran past {self.timeouts.total_s:g} s; interrupted")
            try:
                message = self._socket.recv(timeout=TICK_S)  # type: ignore[union-attr]
            except TimeoutError:
                if now - heard >= POLL_SILENT_S:
                    outputs = self._settled(prompt_id)
                    if outputs is not None:
                        return outputs
                    if now - heard > self.timeouts.idle_s:
                        raise EngineTimeout(f"{self.name}: no word from the server for {self.timeouts.idle_s:g} s "
                                            "while the prompt was queued or running")
                continue
            except ConnectionClosed:
                self._reopen()
                outputs = self._settled(prompt_id)
                if outputs is not None:
                    return outputs
                heard = self._clock()
                continue
            heard = self._clock()
            if isinstance(message, bytes):
                continue  # a preview image (4-byte event type, 4-byte format, bytes): not ours to keep
            kind, data = _message(message)
            if data.get("prompt_id") not in (None, prompt_id):
                continue  # another prompt of this server
            if kind == "progress":
                on_progress(int(data.get("value", 0)), int(data.get("max", 0)))
            elif kind == "execution_error":
                raise _execution_error(self.name, data)
            elif kind == "execution_interrupted":
                raise PromptCancelled(f"node {data.get('node_id')} ({data.get('node_type')})")
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return self._finished(prompt_id)

    def _settled(self, prompt_id: str) -> dict[str, Any] | None:
        """The outputs if the prompt has finished, None while it is queued or running."""
        entry = self.history(prompt_id)
        if entry is not None:
            return _outputs(self.name, entry)
        if self.queued(prompt_id):
            return None
        raise EngineFailure(f"{self.name}: the prompt is neither queued nor in the server's history "
                            "(was the server restarted?)")

    def _finished(self, prompt_id: str) -> dict[str, Any]:
        for _ in range(20):  # the history is written before the last message; give it a moment anyway
            entry = self.history(prompt_id)
            if entry is not None:
                return _outputs(self.name, entry)
            time.sleep(0.05)
        raise EngineFailure(f"{self.name}: the prompt ended but the server has no history of it")


def _message(text: str) -> tuple[str, dict[str, Any]]:
    try:
        body = json.loads(text)
    except ValueError:
        return "", {}
    if not isinstance(body, dict):
        return "", {}
    data = body.get("data")
    return str(body.get("type", "")), data if isinstance(data, dict) else {}


def _execution_error(name: str, data: dict[str, Any]) -> Exception:
    exception = str(data.get("exception_message") or "").strip().splitlines()
    what = f"{data.get('exception_type', 'error')}: {exception[0][:200] if exception else 'no details'}"
    error_class = TransientError if "out of memory" in what.lower() else EngineFailure
    return error_class(f"{name}: node {data.get('node_id')} ({data.get('node_type')}) failed: {what}")


def _outputs(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    if status.get("status_str") == "error":
        for kind, data in status.get("messages") or []:
            if kind == "execution_error" and isinstance(data, dict):
                raise _execution_error(name, data)
            if kind == "execution_interrupted":
                raise PromptCancelled("interrupted")
        raise EngineFailure(f"{name}: the prompt failed on the server (no details in its history)")
    outputs = entry.get("outputs")
    return outputs if isinstance(outputs, dict) else {}


def _short(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:160] if text else type(error).__name__
