#!/usr/bin/env python3
"""Stand-in ComfyUI server: real HTTP and a real WebSocket (FastAPI + uvicorn), ComfyUI's endpoints and
message sequence, and a few nodes that really run: LoadImage, SaveImage, PreviewImage, ImageInvert and
a `ReActorFaceSwap` that inverts its input_image (the trivial "swap" tests can check pixel by pixel).

Endpoints, as ComfyUI's server.py has them: POST /upload/image, POST /prompt (400 with node_errors
for a missing class, a value not in a list or out of range), GET /ws?clientId= (status on connect;
execution_start, execution_cached, executing, progress, executed, execution_success /
execution_error / execution_interrupted; binary preview frames: 4-byte event type, 4-byte format,
image bytes), GET /history/{id}, GET /view, GET /queue, POST /queue {delete}, POST /interrupt
{prompt_id}, GET /object_info, GET /system_stats.

Scripted per prompt with --script (comma-separated, the last repeats): ok; slow (40 steps of 0.1 s:
time to cancel); error (execution_error in the swap node); drop (closes the client's socket mid-run
and finishes while it is closed: the client must resume from /history); die (the process exits
mid-run). Every request and every message sent is appended to ROOT/log.jsonl.

In a test: `with ComfyStandin(tmp_path, script=["ok"]) as server: server.url; server.log()`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import requests
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse

VERSION = "0.3.99-standin"
PREVIEW_BYTES = 1_500_000  # default: more than a WebSocket client's default 1 MiB message limit
FACE_SWAP = "ReActorFaceSwap"


def node_catalog(inputs: list[str]) -> dict[str, dict[str, Any]]:
    """/object_info for the stand-in's nodes (`inputs`: the files LoadImage may load)."""

    def node(required: dict[str, Any], output: list[str], output_node: bool,
             optional: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"input": {"required": required, **({"optional": optional} if optional else {})}, "output": output,
                "output_node": output_node, "category": "standin"}

    combo = lambda *choices: [list(choices), {}]  # noqa: E731
    return {
        "LoadImage": node({"image": [sorted(inputs), {"image_upload": True}]}, ["IMAGE", "MASK"], False),
        "SaveImage": node({"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}, [], True),
        "PreviewImage": node({"images": ["IMAGE"]}, [], True),
        "ImageInvert": node({"image": ["IMAGE"]}, ["IMAGE"], False),
        FACE_SWAP: node({
            "enabled": ["BOOLEAN", {"default": True}],
            "input_image": ["IMAGE"],
            "swap_model": combo("inswapper_128.onnx"),
            "facedetection": combo("retinaface_resnet50", "retinaface_mobile0.25", "YOLOv5l", "YOLOv5n"),
            "face_restore_model": combo("none", "GFPGANv1.4.pth", "codeformer-v0.1.0.pth"),
            "face_restore_visibility": ["FLOAT", {"default": 1, "min": 0.1, "max": 1, "step": 0.05}],
            "codeformer_weight": ["FLOAT", {"default": 0.5, "min": 0, "max": 1, "step": 0.05}],
            "detect_gender_input": combo("no", "female", "male"),
            "detect_gender_source": combo("no", "female", "male"),
            "input_faces_index": ["STRING", {"default": "0"}],
            "source_faces_index": ["STRING", {"default": "0"}],
            "console_log_level": combo(0, 1, 2),
        }, ["IMAGE", "FACE_MODEL"], False, optional={"source_image": ["IMAGE"], "face_model": ["FACE_MODEL"]}),
    }


class Standin:
    """The server's state; one prompt runs at a time, as in ComfyUI."""

    def __init__(self, root: Path, script: list[str], missing: set[str], preview_bytes: int = PREVIEW_BYTES) -> None:
        self.root = root
        self.preview_bytes = preview_bytes
        self.script = script or ["ok"]
        self.missing = missing
        self.sockets: dict[str, Any] = {}
        self.pending: list[dict[str, Any]] = []
        self.running: dict[str, Any] | None = None
        self.current_node: str | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.interrupted: set[str] = set()
        self.number = 0
        self.saved = 0
        self.wake = asyncio.Event()
        for folder in ("input", "output", "temp"):
            (root / folder).mkdir(parents=True, exist_ok=True)

    def log(self, entry: dict[str, Any]) -> None:
        with open(self.root / "log.jsonl", "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def nodes(self) -> dict[str, Any]:
        inputs = [str(p.relative_to(self.root / "input")) for p in (self.root / "input").rglob("*") if p.is_file()]
        return {name: spec for name, spec in node_catalog(inputs).items() if name not in self.missing}

    # ---- validation, as ComfyUI's validate_prompt words it ----------------------------------
    def validate(self, prompt: Any) -> dict[str, Any] | None:
        """None when the prompt may run, else the 400 body."""
        if not isinstance(prompt, dict):
            return {"error": {"type": "invalid_prompt", "message": "Invalid prompt", "details": "not an object",
                              "extra_info": {}}, "node_errors": {}}
        nodes = self.nodes()
        for node_id, spec in prompt.items():
            kind = spec.get("class_type") if isinstance(spec, dict) else None
            if kind not in nodes:
                return {"error": {"type": "invalid_prompt",
                                  "message": f"Cannot execute because node {kind} does not exist.",
                                  "details": f"Node ID '#{node_id}'", "extra_info": {}}, "node_errors": {}}
        node_errors: dict[str, Any] = {}
        for node_id, spec in prompt.items():
            errors = []
            for name, declared in nodes[spec["class_type"]]["input"]["required"].items():
                value = spec["inputs"].get(name)
                if value is None:
                    errors.append({"type": "required_input_missing", "message": "Required input is missing",
                                   "details": name, "extra_info": {"input_name": name}})
                elif isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                    continue  # a link
                elif isinstance(declared[0], list) and value not in declared[0]:
                    errors.append({"type": "value_not_in_list", "message": "Value not in list",
                                   "details": f"{name}: '{value}' not in {declared[0]}", "extra_info": {"input_name": name}})
                elif declared[0] == "FLOAT" and "max" in declared[1] and float(value) > declared[1]["max"]:
                    errors.append({"type": "value_bigger_than_max", "message": "Value bigger than max",
                                   "details": f"{name}: {value} > {declared[1]['max']}", "extra_info": {"input_name": name}})
            if errors:
                node_errors[node_id] = {"errors": errors, "dependent_outputs": [], "class_type": spec["class_type"]}
        if node_errors:
            return {"error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                              "details": "", "extra_info": {}}, "node_errors": node_errors}
        if not any(nodes[spec["class_type"]]["output_node"] for spec in prompt.values()):
            return {"error": {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                              "extra_info": {}}, "node_errors": {}}
        return None

    # ---- messages --------------------------------------------------------------------------
    async def send(self, client_id: str, kind: str, data: dict[str, Any]) -> None:
        self.log({"ws": kind, "prompt_id": data.get("prompt_id"), "to": client_id,
                  "delivered": client_id in self.sockets})
        socket = self.sockets.get(client_id)
        if socket is None:
            return  # as in ComfyUI: a message for a client that is not connected is lost
        try:
            await socket.send_text(json.dumps({"type": kind, "data": data}))
        except Exception:  # noqa: BLE001 — the client went away mid-send
            self.sockets.pop(client_id, None)

    async def preview(self, client_id: str) -> None:
        socket = self.sockets.get(client_id)
        if socket is not None:
            self.log({"ws": "preview", "bytes": self.preview_bytes})
            # event 1 (PREVIEW_IMAGE), format 2 (PNG), then the image bytes
            await socket.send_bytes((1).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"\x89PNG" + os.urandom(self.preview_bytes))

    # ---- execution -------------------------------------------------------------------------
    async def worker(self) -> None:
        while True:
            while not self.pending:
                self.wake.clear()
                await self.wake.wait()
            self.running = self.pending.pop(0)
            try:
                await self.execute(self.running)
            finally:
                self.running, self.current_node = None, None

    def behaviour(self) -> str:
        return self.script[min(self.number - 1, len(self.script) - 1)]

    async def execute(self, item: dict[str, Any]) -> None:
        prompt_id, client, prompt, what = item["prompt_id"], item["client_id"], item["prompt"], item["behaviour"]
        messages: list[list[Any]] = []

        async def say(kind: str, data: dict[str, Any]) -> None:
            data = {**data, "prompt_id": prompt_id}
            if kind.startswith("execution_"):
                messages.append([kind, data])
            await self.send(client, kind, data)

        await say("execution_start", {"timestamp": int(time.time() * 1000)})
        await say("execution_cached", {"nodes": []})
        values: dict[str, Any] = {}
        outputs: dict[str, Any] = {}
        executed: list[str] = []
        import cv2

        for node_id in _order(prompt):
            spec = prompt[node_id]
            kind, inputs = spec["class_type"], spec["inputs"]
            if prompt_id in self.interrupted:
                await say("execution_interrupted", {"node_id": node_id, "node_type": kind, "executed": executed})
                return await self.finish(item, outputs, messages, "error")
            self.current_node = node_id
            await say("executing", {"node": node_id, "display_node": node_id})

            def arg(name: str) -> Any:
                value = inputs[name]
                return values[value[0]] if isinstance(value, list) and len(value) == 2 else value

            if kind == "LoadImage":
                values[node_id] = cv2.imread(str(self.root / "input" / inputs["image"]), cv2.IMREAD_COLOR)
            elif kind in ("ImageInvert", FACE_SWAP):
                image_input = "input_image" if kind == FACE_SWAP else "image"
                if kind == FACE_SWAP:
                    self.log({"swap": {k: v for k, v in inputs.items() if not isinstance(v, list)}})
                if what == "error":
                    await say("execution_error", {
                        "node_id": node_id, "node_type": kind, "executed": executed,
                        "exception_message": "No face detected in the target image\n(more lines of detail)",
                        "exception_type": "RuntimeError", "traceback": ["Traceback (most recent call last):"],
                        "current_inputs": {}, "current_outputs": {}})
                    return await self.finish(item, outputs, messages, "error")
                steps, pause = (40, 0.1) if what == "slow" else (4, 0.01)
                for step in range(1, steps + 1):
                    if prompt_id in self.interrupted:
                        break
                    if what != "drop" or step <= 2:
                        await self.preview(client)
                    await say("progress", {"value": step, "max": steps, "node": node_id})
                    if what == "drop" and step == 2:
                        socket = self.sockets.pop(client, None)
                        if socket is not None:
                            self.log({"dropped": client})
                            await socket.close(code=1011)
                    if what == "die" and step == 2:
                        self.log({"died": prompt_id})
                        os._exit(3)
                    if what != "drop" or step < 2:  # dropped: finish without yielding, before the client is back
                        await asyncio.sleep(pause)
                if prompt_id in self.interrupted:
                    await say("execution_interrupted", {"node_id": node_id, "node_type": kind, "executed": executed})
                    return await self.finish(item, outputs, messages, "error")
                values[node_id] = 255 - arg(image_input)
            elif kind in ("SaveImage", "PreviewImage"):
                self.saved += 1
                folder_type = "output" if kind == "SaveImage" else "temp"
                prefix = str(inputs.get("filename_prefix", "ComfyUI"))
                subfolder, _, stem = prefix.rpartition("/")
                name = f"{stem}_{self.saved:05d}_.png"
                (self.root / folder_type / subfolder).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(self.root / folder_type / subfolder / name), arg("images"), [cv2.IMWRITE_PNG_COMPRESSION, 1])
                outputs[node_id] = {"images": [{"filename": name, "subfolder": subfolder, "type": folder_type}]}
                await say("executed", {"node": node_id, "display_node": node_id, "output": outputs[node_id]})
            executed.append(node_id)
        await say("execution_success", {"timestamp": int(time.time() * 1000)})
        await self.finish(item, outputs, messages, "success")

    async def finish(self, item: dict[str, Any], outputs: dict[str, Any], messages: list[list[Any]],
                     status: str) -> None:
        # As ComfyUI's prompt worker: the history first, then `executing` with node null.
        self.history[item["prompt_id"]] = {
            "prompt": [item["number"], item["prompt_id"], item["prompt"], {"client_id": item["client_id"]}, []],
            "outputs": outputs, "meta": {},
            "status": {"status_str": status, "completed": status == "success", "messages": messages}}
        await self.send(item["client_id"], "executing", {"node": None, "display_node": None,
                                                         "prompt_id": item["prompt_id"]})

    def queue_entry(self, item: dict[str, Any]) -> list[Any]:
        return [item["number"], item["prompt_id"], item["prompt"], {"client_id": item["client_id"]}, []]


def _order(prompt: dict[str, Any]) -> list[str]:
    """Nodes with the ones they read from first."""
    done: list[str] = []

    def visit(node: str) -> None:
        if node in done:
            return
        for value in prompt[node]["inputs"].values():
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and value[0] in prompt:
                visit(value[0])
        done.append(node)

    for node in prompt:
        visit(node)
    return done


def build_app(state: Standin) -> Any:
    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(state.worker())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.middleware("http")
    async def log_requests(request: Request, call_next: Any) -> Any:
        body = await request.body() if request.headers.get("content-type", "").startswith("application/json") else b""
        state.log({"method": request.method, "path": request.url.path, "query": str(request.url.query),
                   "json": json.loads(body) if body else None})
        return await call_next(request)

    @app.get("/system_stats")
    async def system_stats() -> dict[str, Any]:
        return {"system": {"os": os.name, "comfyui_version": VERSION, "python_version": sys.version}, "devices": []}

    @app.get("/object_info")
    async def object_info() -> dict[str, Any]:
        return state.nodes()

    @app.post("/upload/image")
    async def upload(request: Request) -> Any:
        form = await request.form()
        image = form.get("image")
        if isinstance(image, str) or image is None:
            return JSONResponse({"error": "no image"}, status_code=400)
        subfolder = str(form.get("subfolder") or "")
        folder = state.root / str(form.get("type") or "input") / subfolder
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(image.filename or "upload.png").name
        if str(form.get("overwrite")).lower() != "true":
            stem, suffix, n = Path(name).stem, Path(name).suffix, 1
            while (folder / name).exists():
                name, n = f"{stem} ({n}){suffix}", n + 1
        (folder / name).write_bytes(await image.read())
        return {"name": name, "subfolder": subfolder, "type": "input"}

    @app.post("/prompt")
    async def post_prompt(request: Request) -> JSONResponse:
        body = await request.json()
        refused = state.validate(body.get("prompt"))
        if refused is not None:
            return JSONResponse(refused, status_code=400)
        state.number += 1
        item = {"prompt_id": str(uuid.uuid4()), "number": state.number, "prompt": body["prompt"],
                "client_id": str(body.get("client_id") or ""), "behaviour": state.behaviour()}
        state.pending.append(item)
        state.wake.set()
        return JSONResponse({"prompt_id": item["prompt_id"], "number": item["number"], "node_errors": {}})

    @app.get("/queue")
    async def get_queue() -> dict[str, Any]:
        return {"queue_running": [state.queue_entry(state.running)] if state.running else [],
                "queue_pending": [state.queue_entry(item) for item in state.pending]}

    @app.post("/queue")
    async def post_queue(request: Request) -> dict[str, Any]:
        body = await request.json()
        if body.get("clear"):
            state.pending.clear()
        for prompt_id in body.get("delete", []):
            state.pending[:] = [item for item in state.pending if item["prompt_id"] != prompt_id]
        return {}

    @app.post("/interrupt")
    async def interrupt(request: Request) -> dict[str, Any]:
        body = await request.json() if await request.body() else {}
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        if state.running and wanted in (None, state.running["prompt_id"]):
            state.interrupted.add(state.running["prompt_id"])
        return {}

    @app.get("/history/{prompt_id}")
    async def history(prompt_id: str) -> dict[str, Any]:
        return {prompt_id: state.history[prompt_id]} if prompt_id in state.history else {}

    @app.get("/view")
    async def view(filename: str, subfolder: str = "", type: str = "output") -> Any:  # noqa: A002 — ComfyUI's name
        path = (state.root / type / subfolder / filename).resolve()
        if state.root.resolve() not in path.parents or not path.is_file():
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(path)

    @app.websocket("/ws")
    async def websocket(socket: WebSocket) -> None:
        client_id = socket.query_params.get("clientId") or uuid.uuid4().hex
        await socket.accept()
        state.sockets[client_id] = socket
        state.log({"ws_open": client_id})
        await state.send(client_id, "status", {"status": {"exec_info": {"queue_remaining": len(state.pending)}},
                                               "sid": client_id})
        if state.running and state.running["client_id"] == client_id and state.current_node:
            await state.send(client_id, "executing", {"node": state.current_node,
                                                      "prompt_id": state.running["prompt_id"]})
        try:
            while True:
                await socket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            if state.sockets.get(client_id) is socket:
                del state.sockets[client_id]

    return app


class ComfyStandin:
    """The stand-in as a process on a free loopback port: waited for until it answers, stopped by pid."""

    def __init__(self, root: Path, script: list[str] | None = None, missing: tuple[str, ...] = (),
                 preview_bytes: int = PREVIEW_BYTES) -> None:
        from standins.helpers import free_port

        self.root = root
        self.port = free_port()
        self.args = ["--port", str(self.port), "--root", str(root), "--script", ",".join(script or ["ok"]),
                     "--preview-bytes", str(preview_bytes)]
        if missing:
            self.args += ["--missing", ",".join(missing)]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ComfyStandin:
        self.root.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen([sys.executable, __file__, *self.args], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(self.root / "stderr.txt", "wb"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the stand-in exited: {(self.root / 'stderr.txt').read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/system_stats", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.05)
        raise RuntimeError("the stand-in did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, 9)
                self.process.wait()

    def __enter__(self) -> ComfyStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self) -> list[dict[str, Any]]:
        path = self.root / "log.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def requests(self, path: str) -> list[dict[str, Any]]:
        return [entry for entry in self.log() if entry.get("path") == path]

    def sent(self) -> list[str]:
        """The message types sent over WebSocket, in order (previews included)."""
        return [entry["ws"] for entry in self.log() if "ws" in entry]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--script", default="ok")
    parser.add_argument("--missing", default="", help="node classes this server lacks")
    parser.add_argument("--preview-bytes", type=int, default=PREVIEW_BYTES)
    args = parser.parse_args()
    import uvicorn

    state = Standin(args.root, args.script.split(","), {name for name in args.missing.split(",") if name},
                    args.preview_bytes)
    uvicorn.run(build_app(state), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
