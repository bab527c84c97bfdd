"""ComfyUI as an engine, against a stand-in server that speaks ComfyUI's HTTP + WebSocket protocol and
runs the shipped ReActor workflow with a "swap" that inverts the target: right pixels, progress in
order, options reaching the node, refused prompts and failing nodes in one line, cancel, a dropped
socket, a server dying mid-job (the built-in engine finishes it), a video through SwapCast's own
media path, and what `swapcast engines` says before any job runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.cli.main import main
from engines.external.base import SwapRequest
from engines.external.comfyui.adapter import ComfyUIAdapter
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure
from engines.imaging import read_image
from engines.metadata import AI_TAG, read_image_tags
from engines.testing.synthetic_face import identity_by_name
from standins.comfyui_server import ComfyStandin
from standins.helpers import builtin_entry, comfyui_entry, document, free_port, write_integrations
from test_integrations_jobs import cheek, jobs, swap


SHIPPED = Path(__file__).parents[1] / "resources/comfyui"


@pytest.fixture()
def comfy(tmp_path):
    """comfy(script=[...], missing=(...)): a running stand-in ComfyUI, stopped (by pid) afterwards."""
    started: list[ComfyStandin] = []

    def start(script: list[str] | None = None, missing: tuple[str, ...] = (), **options: int) -> ComfyStandin:
        server = ComfyStandin(tmp_path / f"comfy{len(started)}", script, missing, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture()
def integrations(tmp_path, monkeypatch):
    def use(engines: dict) -> Path:
        path = write_integrations(tmp_path, engines)
        monkeypatch.setenv("SWAPCAST_INTEGRATIONS", str(path))
        return path

    return use


def adapter(url: str, **extra) -> ComfyUIAdapter:
    config = parse_integrations(document({"comfyui": comfyui_entry(url, **extra)}), Path("test.json"))
    return ComfyUIAdapter(config.engine("comfyui"))


def image_request(kit_dir: Path, out: Path, **options) -> SwapRequest:
    return SwapRequest(sources=(kit_dir / "samples/source_a.png",), target=kit_dir / "samples/target.png",
                       output=out, mode=Mode.IMAGE_TO_IMAGE, **options)


def inverted(path: Path) -> np.ndarray:
    return 255 - read_image(path)


def swapped_inputs(server: ComfyStandin) -> list[dict]:
    return [entry["swap"] for entry in server.log() if "swap" in entry]


# ---- the stand-in speaks ComfyUI's protocol --------------------------------------------------

def test_the_standin_runs_a_prompt_with_comfyuis_message_sequence_and_binary_previews(comfy, kit_dir, tmp_path) -> None:
    import requests
    from websockets.sync.client import connect

    server = comfy()
    target = kit_dir / "samples/target.png"
    uploaded = requests.post(f"{server.url}/upload/image", files={"image": ("t.png", target.read_bytes())},
                             data={"overwrite": "true"}).json()
    assert uploaded == {"name": "t.png", "subfolder": "", "type": "input"}
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "t.png"}},
              "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
              "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x/y"}}}
    received: list[tuple[str, dict]] = []
    previews: list[bytes] = []
    with connect(f"ws://127.0.0.1:{server.port}/ws?clientId=me", max_size=None, proxy=None) as socket:
        answer = requests.post(f"{server.url}/prompt", json={"prompt": prompt, "client_id": "me"}).json()
        prompt_id = answer["prompt_id"]
        assert answer["node_errors"] == {} and answer["number"] == 1
        while not received or received[-1] != ("executing", {"node": None, "display_node": None, "prompt_id": prompt_id}):
            message = socket.recv(timeout=10)
            if isinstance(message, bytes):
                previews.append(message[:8])
            else:
                body = json.loads(message)
                received.append((body["type"], body["data"]))
    kinds = [kind for kind, _ in received]
    assert kinds == ["status", "execution_start", "execution_cached", "executing", "executing", "progress",
                     "progress", "progress", "progress", "executing", "executed", "execution_success", "executing"]
    assert [data["node"] for kind, data in received if kind == "executing"] == ["1", "2", "3", None]
    assert [(data["value"], data["max"]) for kind, data in received if kind == "progress"] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert previews == [b"\x00\x00\x00\x01\x00\x00\x00\x02"] * 4  # PREVIEW_IMAGE, PNG
    image = received[-3][1]["output"]["images"][0]
    assert image == {"filename": "y_00001_.png", "subfolder": "x", "type": "output"}
    history = requests.get(f"{server.url}/history/{prompt_id}").json()[prompt_id]
    assert history["status"]["status_str"] == "success" and history["outputs"]["3"]["images"] == [image]
    view = requests.get(f"{server.url}/view", params=image).content
    assert np.array_equal(cv2.imdecode(np.frombuffer(view, np.uint8), cv2.IMREAD_COLOR), inverted(target))


def test_the_standin_refuses_bad_prompts_as_comfyui_does(comfy) -> None:
    import requests

    server = comfy(missing=("ReActorFaceSwap",))
    bad_value = {"1": {"class_type": "LoadImage", "inputs": {"image": "nothing.png"}},
                 "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "p"}}}
    answer = requests.post(f"{server.url}/prompt", json={"prompt": bad_value, "client_id": "me"})
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    assert body["node_errors"]["1"]["class_type"] == "LoadImage"
    assert body["node_errors"]["1"]["errors"][0]["message"] == "Value not in list"
    missing = {"1": {"class_type": "ReActorFaceSwap", "inputs": {}}}
    body = requests.post(f"{server.url}/prompt", json={"prompt": missing, "client_id": "me"}).json()
    assert body["error"]["message"] == "Cannot execute because node ReActorFaceSwap does not exist."
    assert "ReActorFaceSwap" not in requests.get(f"{server.url}/object_info").json()


# ---- the adapter -----------------------------------------------------------------------------

def test_an_image_is_swapped_by_the_workflow_tagged_with_progress_in_order(comfy, kit_dir, tmp_path) -> None:
    server = comfy()
    engine = adapter(server.url)
    assert engine.check().available and engine.check().version == "0.3.99-standin"
    seen: list[tuple[int, int]] = []
    out = tmp_path / "out.png"
    result = engine.run(image_request(kit_dir, out), lambda done, total: seen.append((done, total)))
    assert result.frames == 1 and result.engine == "comfyui"
    # The stand-in's "swap" inverts the target: every pixel is the inverse.
    assert np.array_equal(read_image(out), inverted(kit_dir / "samples/target.png"))
    assert read_image_tags(out)["comment"] == f"{AI_TAG}: comfyui 0.3.99-standin"
    steps = [pair for pair in seen if pair[1] == 4]
    assert steps == sorted(steps) and steps[-1] == (4, 4) and seen[-1] == (1, 1)
    assert all(done <= total for done, total in seen)
    # Previews (binary, bigger than a WebSocket client's default message limit) were sent and ignored.
    assert server.sent().count("preview") == 4
    [inputs] = swapped_inputs(server)
    assert inputs["swap_model"] == "inswapper_128.onnx" and inputs["face_restore_model"] == "none"
    uploads = [entry["query"] for entry in server.log() if entry.get("path") == "/upload/image"]
    assert len(uploads) == 2 and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_job_options_reach_the_nodes_the_mapping_names(comfy, kit_dir, tmp_path) -> None:
    server = comfy()
    engine = adapter(server.url)
    request = image_request(kit_dir, tmp_path / "o.png", enhance=True, faces="all", source_face=1)
    assert engine.unsupported(request) is None
    engine.run(request, lambda d, t: None)
    [inputs] = swapped_inputs(server)
    assert inputs["face_restore_model"] == "GFPGANv1.4.pth"
    assert inputs["input_faces_index"] == "0,1,2,3,4,5,6,7,8,9" and inputs["source_faces_index"] == "1"
    reference = image_request(kit_dir, tmp_path / "r.png", faces="reference", reference=kit_dir / "samples/source_a.png")
    assert "reference photo" in (engine.unsupported(reference) or "")


def test_a_prompt_the_server_refuses_is_one_line_naming_the_node_and_the_problem(comfy, kit_dir, tmp_path) -> None:
    server = comfy()
    workflow = json.loads((SHIPPED / "reactor_faceswap.json").read_text())
    workflow["3"]["inputs"]["face_restore_visibility"] = 5
    (tmp_path / "flow.json").write_text(json.dumps(workflow))
    mapping = SHIPPED / "reactor_faceswap.mapping.json"
    engine = adapter(server.url, workflow=str(tmp_path / "flow.json"), workflowMapping=str(mapping))
    with pytest.raises(EngineFailure) as caught:
        engine.run(image_request(kit_dir, tmp_path / "o.png"), lambda d, t: None)
    line = caught.value.one_line()
    assert "\n" not in line
    assert "node 3 (ReActorFaceSwap): Value bigger than max: face_restore_visibility: 5 > 1" in line
    assert "flow.json" in line  # the fix names the workflow to change
    assert not (tmp_path / "o.png").exists()


def test_a_failing_node_fails_the_target_with_the_servers_message(comfy, kit_dir, tmp_path) -> None:
    server = comfy(script=["error"])
    with pytest.raises(EngineFailure) as caught:
        adapter(server.url).run(image_request(kit_dir, tmp_path / "o.png"), lambda d, t: None)
    assert caught.value.problem == ("comfyui: node 3 (ReActorFaceSwap) failed: RuntimeError: "
                                    "No face detected in the target image")
    assert "execution_error" in server.sent() and not (tmp_path / "o.png").exists()


class Cancelled(BaseException):
    """What the job's reporter raises when the user cancels (a BaseException, like JobInterrupted)."""


def test_cancel_interrupts_the_running_prompt_and_dequeues_it(comfy, kit_dir, tmp_path) -> None:
    server = comfy(script=["slow"])

    def progress(done: int, total: int) -> None:
        if done >= 2 and total == 40:
            raise Cancelled()

    with pytest.raises(Cancelled):
        adapter(server.url).run(image_request(kit_dir, tmp_path / "o.png"), progress)
    [interrupt] = server.requests("/interrupt")
    [prompt] = [entry for entry in server.log() if entry.get("ws") == "execution_start"]
    assert interrupt["json"] == {"prompt_id": prompt["prompt_id"]}
    assert [entry["json"] for entry in server.requests("/queue") if entry["method"] == "POST"] == [
        {"delete": [prompt["prompt_id"]]}]
    deadline = time.monotonic() + 10
    while "execution_interrupted" not in server.sent() and time.monotonic() < deadline:
        time.sleep(0.05)  # the stand-in stops at its next step
    assert "execution_interrupted" in server.sent() and server.sent().count("progress") < 40
    assert not (tmp_path / "o.png").exists()


def test_a_socket_dropped_mid_run_is_reopened_and_the_result_read_from_history(comfy, kit_dir, tmp_path) -> None:
    server = comfy(script=["drop"])
    out = tmp_path / "o.png"
    adapter(server.url).run(image_request(kit_dir, out), lambda d, t: None)
    log = server.log()
    assert any("dropped" in entry for entry in log)
    assert len([entry for entry in log if "ws_open" in entry]) == 2  # the same client id, reconnected
    assert any(entry.get("ws") == "execution_success" and not entry["delivered"] for entry in log)  # missed
    assert np.array_equal(read_image(out), inverted(kit_dir / "samples/target.png"))


# ---- through the CLI, the job queue and the manager ------------------------------------------

def test_a_video_goes_frame_by_frame_through_the_workflow_and_keeps_timestamps_frames_and_audio(
        comfy, kit_dir, tmp_path, integrations, capsys) -> None:
    from app.media.synth import make_clip

    server = comfy(preview_bytes=64)
    integrations({"comfyui": comfyui_entry(server.url, priority=90), "builtin": builtin_entry(priority=50)})
    clip = make_clip(tmp_path / "clip.mp4", frames=24, fps=24, audio="aac", vfr=True)  # uneven frame times
    out = tmp_path / "out.mp4"
    assert main(["swap", "--models", str(kit_dir), "-s", str(kit_dir / "samples/source_a.png"),
                 "-t", str(clip.path), "-o", str(out)]) == 0
    assert "instead" not in capsys.readouterr().out  # done by comfyui, no failover
    with av.open(str(out)) as made, av.open(str(clip.path)) as source:
        assert len(made.streams.audio) == 1 and made.streams.audio[0].rate == source.streams.audio[0].rate
        assert AI_TAG in made.metadata.get("comment", "")
        ours = [(frame.time, frame.to_ndarray(format="bgr24")) for frame in made.decode(video=0)]
        theirs = [(frame.time, frame.to_ndarray(format="bgr24")) for frame in source.decode(video=0)]
    assert [round(t, 3) for t, _ in ours] == [round(t, 3) for t, _ in theirs] and len(ours) == 24
    for (_, mine), (_, original) in zip(ours, theirs):  # inverted, frame for frame (H.264 losses aside)
        assert np.abs(mine.astype(int) - (255 - original).astype(int)).mean() < 6
    assert len(swapped_inputs(server)) == 24  # one prompt per frame
    [job] = jobs(capsys)
    assert job["state"] == "COMPLETED" and job["frames_done"] == job["frames_total"] == 24


def test_a_server_dying_mid_job_fails_over_to_the_builtin_engine(
        comfy, kit_dir, tmp_path, integrations, capsys) -> None:
    from engines.testing.samples import load_truth

    server = comfy(script=["die"])
    integrations({"comfyui": comfyui_entry(server.url, priority=90), "builtin": builtin_entry(priority=50)})
    out = tmp_path / "out.png"
    assert swap(kit_dir, "target.png", out) == 0
    printed = capsys.readouterr().out
    assert "comfyui failed (comfyui: lost the server" in printed and "done by builtin instead" in printed
    assert server.process is not None and server.process.wait(5) == 3  # it really died
    truth = load_truth(kit_dir / "samples")
    face = truth.images["target.png"].faces[0]
    coral = np.array(identity_by_name(truth.images["source_a.png"].faces[0].identity).skin_bgr, float)
    assert np.abs(cheek(read_image(out), face.box) - coral).max() < 25  # the built-in engine swapped it
    [job] = jobs(capsys)
    assert job["state"] == "COMPLETED"


def engines_listing(capsys) -> tuple[dict, str]:
    capsys.readouterr()
    assert main(["engines", "--json"]) == 0
    data = {e["name"]: e for e in json.loads(capsys.readouterr().out)["engines"]}
    assert main(["engines"]) == 0
    return data, capsys.readouterr().out


def test_a_node_missing_on_the_server_is_reported_by_swapcast_engines_before_any_job(
        comfy, integrations, capsys) -> None:
    server = comfy(missing=("ReActorFaceSwap",))
    integrations({"comfyui": comfyui_entry(server.url), "builtin": builtin_entry()})
    data, table = engines_listing(capsys)
    comfyui = data["comfyui"]
    assert not comfyui["available"] and comfyui["version"] == "0.3.99-standin"
    assert comfyui["reason"].startswith(f"node 3 (ReActorFaceSwap) is not installed on the server at {server.url}: "
                                        "install the custom node that provides ReActorFaceSwap")
    assert comfyui["transport"] == "websocket" and comfyui["files_leave_machine"] is False
    assert comfyui["health"]["state"] == "down"  # what the health panel shows
    assert "comfyui [0.3.99-standin]: node 3 (ReActorFaceSwap) is not installed" in table
    assert not server.requests("/prompt") and not server.requests("/upload/image")  # asked, never run


def test_a_model_the_workflow_picks_but_the_server_lacks_is_reported_before_any_job(comfy, tmp_path) -> None:
    server = comfy()
    workflow = json.loads((SHIPPED / "reactor_faceswap.json").read_text())
    workflow["3"]["inputs"]["swap_model"] = "reswapper_256.onnx"
    (tmp_path / "flow.json").write_text(json.dumps(workflow))
    (tmp_path / "flow.mapping.json").write_bytes(
        (SHIPPED / "reactor_faceswap.mapping.json").read_bytes())
    reason = adapter(server.url, workflow=str(tmp_path / "flow.json")).check().reason or ""
    assert reason.startswith("node 3 (ReActorFaceSwap): swap_model 'reswapper_256.onnx' is not on the server")
    assert "inswapper_128.onnx" in reason


@pytest.mark.parametrize(("content", "expected"), [
    (None, "workflow file {path} does not exist"),
    ("{not json", "not valid JSON (line 1"),
    (json.dumps({"nodes": [], "links": []}), "in the UI format (nodes and links), not the API format"),
    (json.dumps({"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}}}),
     "reactor_faceswap.mapping.json: source names node 2, which reactor_faceswap.json does not have"),
])
def test_a_workflow_that_cannot_be_used_is_one_line_in_the_engines_listing(tmp_path, content, expected) -> None:
    path = tmp_path / "reactor_faceswap.json"
    if content is not None:
        path.write_text(content)
    (tmp_path / "reactor_faceswap.mapping.json").write_bytes((SHIPPED / "reactor_faceswap.mapping.json").read_bytes())
    availability = adapter(f"http://127.0.0.1:{free_port()}", workflow=str(path)).check()
    assert not availability.available
    assert expected.format(path=path) in (availability.reason or "") and "\n" not in (availability.reason or "")


def test_an_unreachable_or_off_machine_server_is_unavailable_with_the_reason(tmp_path) -> None:
    down = adapter(f"http://127.0.0.1:{free_port()}").check()
    assert not down.available and "is down (connection refused)" in (down.reason or "")
    assert "start ComfyUI" in (down.reason or "")  # and the fix
    remote = adapter("http://192.0.2.1:8188").check()
    assert not remote.available and "is not this machine" in (remote.reason or "") and "allowRemote" in remote.reason


def test_the_settings_rules_for_a_comfyui_entry_are_one_line_each() -> None:
    from engines.external.errors import IntegrationConfigError

    def error(entry: dict) -> str:
        with pytest.raises(IntegrationConfigError) as caught:
            parse_integrations(document({"comfyui": entry}), Path("integrations.json"))
        return caught.value.one_line()

    assert "engine 'comfyui': url must be set for an enabled websocket engine" in error(comfyui_entry(""))
    assert "transport must be websocket for a comfyui engine" in error(comfyui_entry("http://127.0.0.1:1", transport="http"))
    assert "workflow only applies to comfyui engines" in error({**builtin_entry(), "workflow": "x.json"})


def test_cancelling_a_video_interrupts_the_frame_prompt_and_leaves_no_output(comfy, tmp_path) -> None:
    from app.engine_host.cache import AppRuntime
    from app.media.synth import make_clip

    server = comfy(script=["slow"], preview_bytes=64)
    config = parse_integrations(document({"comfyui": comfyui_entry(server.url)}), Path("test.json"))
    engine = ComfyUIAdapter(config.engine("comfyui"), runtime=AppRuntime())
    clip = make_clip(tmp_path / "clip.mp4", frames=8, audio="aac")
    source = tmp_path / "face.png"
    cv2.imwrite(str(source), np.full((64, 64, 3), 90, np.uint8))
    out = tmp_path / "out.mp4"

    def progress(done: int, total: int) -> None:
        if "progress" in server.sent():  # the first frame's prompt is running on the server
            raise Cancelled()

    with pytest.raises(Cancelled):
        engine.run(SwapRequest(sources=(source,), target=clip.path, output=out, mode=Mode.IMAGE_TO_VIDEO), progress)
    prompts = [entry["prompt_id"] for entry in server.log() if entry.get("ws") == "execution_start"]
    assert len(prompts) == 1  # no further frame was sent
    assert [entry["json"] for entry in server.requests("/interrupt")] == [{"prompt_id": prompts[0]}]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".part" in p.name]


def test_a_server_on_this_machine_is_reached_directly_whatever_proxy_the_environment_sets(
        comfy, kit_dir, tmp_path, monkeypatch) -> None:
    server = comfy(preview_bytes=64)
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # a proxy would carry the photos off the machine
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "o.png"
    adapter(server.url).run(image_request(kit_dir, out), lambda d, t: None)
    assert np.array_equal(read_image(out), inverted(kit_dir / "samples/target.png"))
    assert len([entry for entry in server.log() if "ws_open" in entry]) == 1
