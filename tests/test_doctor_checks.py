"""The other checks, each on the situation a user meets: no GPU, no camera, no virtual camera, a bad folder..."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import av
import pytest

from app.doctor import DoctorContext
from app.doctor import cameras, encoders, folders, gpu, models, python, virtual_camera
from app.monitor.gpu import GpuInfo, GpuReport
from app.paths import user_paths


def fake_root_context(root: Path) -> DoctorContext:
    return DoctorContext(paths=user_paths(), root=root, system="Linux")


def test_python_version() -> None:
    assert python.check(DoctorContext.default()).status == "ok"
    old = python.check(DoctorContext.default(), version=(3, 10, 13))  # av 18 has no 3.10 wheels
    assert old.status == "fail" and "3.10.13" in old.summary and "3.11 or newer" in old.summary and old.fix


def test_gpu_check_without_nvidia_says_so() -> None:
    result = gpu.check(DoctorContext.default(), GpuReport((), "no NVIDIA driver found: the NVML library is missing"))
    assert result.status == "warn"
    assert result.summary.startswith("no NVIDIA GPU: models run on the CPU")
    real = gpu.check(DoctorContext.default())  # whatever this machine has, it must not raise
    assert real.status in ("ok", "warn")


def test_gpu_check_names_the_gpu_and_memory() -> None:
    report = GpuReport((GpuInfo(0, "NVIDIA GeForce RTX 4090", 2 << 30, 24 << 30, 5, 0, "555.42"),))
    result = gpu.check(DoctorContext.default(), report)
    assert result.status == "ok" and "RTX 4090 24 GiB" in result.summary and "555.42" in result.summary


def test_no_camera_suggests_a_video_file(tmp_path: Path) -> None:
    result = cameras.check(fake_root_context(tmp_path))
    assert result.status == "warn" and result.summary == "no camera found"
    assert result.fix == "use --camera FILE to play a video file as a camera"


def test_camera_found(tmp_path: Path) -> None:
    node = tmp_path / "sys" / "class" / "video4linux" / "video0"
    node.mkdir(parents=True)
    (node / "name").write_text("Integrated Camera\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "video0").write_bytes(b"")
    result = cameras.check(fake_root_context(tmp_path))
    assert result.status == "ok" and "Integrated Camera (/dev/video0)" in result.summary


def test_missing_virtual_camera_warns_with_the_setup_script(tmp_path: Path) -> None:
    result = virtual_camera.check(fake_root_context(tmp_path))
    assert result.status == "warn" and not result.blocking
    assert result.fix and "setup_v4l2loopback.sh" in result.fix


def test_swapcast_virtual_camera_is_ok(tmp_path: Path) -> None:
    (tmp_path / "sys" / "module" / "v4l2loopback" / "parameters").mkdir(parents=True)
    (tmp_path / "sys" / "module" / "v4l2loopback" / "parameters" / "exclusive_caps").write_text("Y\n")
    node = tmp_path / "sys" / "class" / "video4linux" / "video10"
    node.mkdir(parents=True)
    (node / "name").write_text("SwapCast\n")
    (node / "max_openers").write_text("10\n")
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "video10").write_bytes(b"")
    result = virtual_camera.check(fake_root_context(tmp_path))
    assert result.status == "ok" and "/dev/video10" in result.summary and "SwapCast" in result.summary


def test_unwritable_folder_fails_naming_it(swapcast_home: Path) -> None:
    (swapcast_home / "logs").write_text("a file where the logs folder should be")
    result = folders.check(DoctorContext.default())
    assert result.status == "fail" and result.blocking
    assert str(swapcast_home / "logs") in result.summary and "logs folder" in result.summary
    assert result.fix and "SWAPCAST_HOME" in result.fix


def test_writable_folders_are_ok_and_left_clean(swapcast_home: Path) -> None:
    result = folders.check(DoctorContext.default())
    assert result.status == "ok"
    leftovers = [p for p in swapcast_home.rglob("*") if p.is_file()]
    assert leftovers == []


def test_encoders_here_have_libx264() -> None:
    result = encoders.check(DoctorContext.default())
    assert result.status == "ok" and "libx264" in result.summary
    by_name = {p.name: p for p in result.details["encoders"]}
    assert by_name["libx264"].opens
    # Compiled in is not enough: on a machine without NVIDIA, NVENC is listed but does not open.
    if "h264_nvenc" in av.codecs_available and not gpu.read_gpus().gpus:
        assert not by_name["h264_nvenc"].opens and by_name["h264_nvenc"].error


def test_missing_libx264_fails_for_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(av, "codecs_available", frozenset(set(av.codecs_available) - {"libx264"}))
    result = encoders.check(DoctorContext.default())
    assert result.status == "fail" and result.needed_for == {"offline"}
    assert "libx264" in result.summary and result.fix


def test_hanging_encoder_open_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "OPEN_TIMEOUT", 0.2)
    monkeypatch.setattr(encoders, "_open", lambda name: time.sleep(3))
    probe = encoders.probe_encoder("libx264", {"libx264"})
    assert not probe.opens and "did not finish" in (probe.error or "")


# ---------------------------------------------------------------- models, with a stand-in store


def spec(model_id: str, role: str, default: bool = True) -> SimpleNamespace:
    return SimpleNamespace(id=model_id, role=role, file=f"{model_id}.onnx", default=default)


class FakeStore:
    def __init__(self, present: set[str], corrupt: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self._specs = [
            spec("det_10g", "detector"), spec("w600k_r50", "recognizer"),
            spec("inswapper_128", "swapper"), spec("inswapper_128_fp16", "swapper", default=False),
            spec("GFPGANv1.4", "enhancer"),
        ]
        self.present, self.corrupt = present, corrupt
        self.source = Path("/catalog/models.json")

    def specs(self) -> list[SimpleNamespace]:
        return list(self._specs)

    def default_for(self, role: str) -> SimpleNamespace:
        return next(s for s in self._specs if s.role == role and s.default)

    def status(self, model_id: str) -> SimpleNamespace:
        s = next(s for s in self._specs if s.id == model_id)
        present = model_id in self.present
        verified = present and model_id not in self.corrupt
        problem = None if verified else (f"{s.file} fails its hash check" if present else f"{s.file} is missing from /models")
        return SimpleNamespace(spec=s, path=Path("/models") / s.file, present=present, verified=verified, problem=problem)


ALL = {"det_10g", "w600k_r50", "inswapper_128", "inswapper_128_fp16", "GFPGANv1.4"}


def test_models_all_present_is_ok() -> None:
    result = models.check(DoctorContext.default(), FakeStore(ALL))
    assert result.status == "ok" and "swapper: inswapper_128.onnx" in result.summary


def test_missing_default_model_fails_for_live_and_offline() -> None:
    result = models.check(DoctorContext.default(), FakeStore(ALL - {"inswapper_128"}))
    assert result.status == "fail" and result.needed_for == {"live", "offline"}
    assert "inswapper_128.onnx (swapper)" in result.summary
    assert result.fix and "swapcast models download --all" in result.fix and "--models DIR" in result.fix


def test_corrupt_default_model_fails_with_the_hash_problem() -> None:
    result = models.check(DoctorContext.default(), FakeStore(ALL, corrupt={"det_10g"}))
    assert result.status == "fail" and "det_10g.onnx fails its hash check" in result.summary


def test_missing_enhancer_or_alternative_only_warns() -> None:
    result = models.check(DoctorContext.default(), FakeStore(ALL - {"GFPGANv1.4"}, corrupt={"inswapper_128_fp16"}))
    assert result.status == "warn" and not result.blocking
    assert "GFPGANv1.4.onnx (enhancer)" in result.summary and "inswapper_128_fp16.onnx fails" in result.summary


def test_models_check_with_the_real_catalog_and_an_empty_folder() -> None:
    result = models.check(DoctorContext.default())
    assert result.status == "fail"
    assert "missing from" in result.summary and ".onnx" in result.summary


def write_manifest(folder: Path) -> None:
    import hashlib
    import json

    folder.mkdir()
    entries = []
    for model_id, role in (("tiny_det", "detector"), ("tiny_rec", "recognizer"), ("tiny_swap", "swapper")):
        data = f"{model_id} bytes".encode()
        (folder / f"{model_id}.onnx").write_bytes(data)
        entries.append({"id": model_id, "role": role, "file": f"{model_id}.onnx", "urls": [],
                        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "default": True})
    (folder / "manifest.json").write_text(json.dumps({"format": 1, "models": entries}))


def test_models_from_a_manifest_folder(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    write_manifest(kit)
    context = DoctorContext(paths=user_paths(), models_override=kit)
    result = models.check(context)
    assert result.status == "ok" and "3 verified" in result.summary and str(kit) in result.summary
    (kit / "tiny_swap.onnx").write_bytes(b"half a download")
    result = models.check(context)
    assert result.status == "fail" and "tiny_swap.onnx" in result.summary and "hash" in result.summary
    assert result.fix and f"swapcast models kit {kit}" in result.fix


def test_models_folder_that_does_not_exist(tmp_path: Path) -> None:
    result = models.check(DoctorContext(paths=user_paths(), models_override=tmp_path / "nope"))
    assert result.status == "fail" and "does not exist" in result.summary
    assert result.fix and result.fix not in result.summary
