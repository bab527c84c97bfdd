"""onnxruntime: two builds together fail with the repair; a GPU without a working CUDA provider fails loudly."""

from __future__ import annotations

import warnings

import onnxruntime
import pytest

from app.doctor import DoctorContext
from app.doctor import onnxruntime_check as check_module
from app.doctor.onnxruntime_check import ProviderProbe, check_builds, check_providers, probe_provider, reason_from_log
from app.monitor.gpu import GpuInfo, GpuReport

CONTEXT = DoctorContext.default()
H100 = GpuInfo(0, "NVIDIA H100 80GB HBM3", 1 << 30, 80 << 30, 0, 0, "550.54.15")


def test_two_builds_installed_together_fail_with_the_repair(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "installed_distributions", lambda: {"onnxruntime": "1.20.1", "onnxruntime-gpu": "1.20.1"})
    result = check_builds(CONTEXT)
    assert result.status == "fail" and result.blocking
    assert "onnxruntime 1.20.1" in result.summary and "onnxruntime-gpu 1.20.1" in result.summary
    assert result.fix and "setup_virtual_env" in result.fix and "--gpu" in result.fix and "repairs" in result.fix


def test_one_build_is_fine_and_none_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "installed_distributions", lambda: {"onnxruntime-gpu": "1.20.1"})
    assert check_builds(CONTEXT).status == "ok"
    monkeypatch.setattr(check_module, "installed_distributions", lambda: {})
    result = check_builds(CONTEXT)
    assert result.status == "fail" and result.fix


def test_installed_distributions_sees_this_venv() -> None:
    builds = check_module.installed_distributions()
    assert builds and all(name.startswith(("onnxruntime", "ort-nightly")) for name in builds)


def test_cpu_session_really_loads() -> None:
    probe = probe_provider("CPUExecutionProvider")
    assert probe.loaded and probe.used[0] == "CPUExecutionProvider"


def test_missing_provider_is_reported_not_raised() -> None:
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine really has CUDA")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # onnxruntime warns that the provider is not in its list
        probe = probe_provider("CUDAExecutionProvider")
    assert not probe.loaded and probe.error


def test_cpu_only_machine_is_ok() -> None:
    if set(onnxruntime.get_available_providers()) & set(check_module.GPU_PROVIDERS):
        pytest.skip("a GPU build is installed here")
    monkeypatch_free = check_providers(CONTEXT)
    if monkeypatch_free.details["nvidia_gpus"]:
        pytest.skip("an NVIDIA GPU is present")
    assert monkeypatch_free.status == "ok" and "CPUExecutionProvider" in monkeypatch_free.summary


def test_gpu_with_cpu_only_build_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "read_gpus", lambda: GpuReport((H100,)))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    result = check_providers(CONTEXT)
    assert result.status == "fail" and result.needed_for == {"live", "offline"}
    assert "H100" in result.summary and "CUDAExecutionProvider" in result.summary and "CPU" in result.summary
    assert result.fix and "--gpu" in result.fix


def test_cuda_that_does_not_load_names_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = "cannot load libonnxruntime_providers_cuda.so: libcublasLt.so.12: cannot open shared object file"
    monkeypatch.setattr(check_module, "read_gpus", lambda: GpuReport((H100,)))
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(check_module, "probe_provider", lambda p: ProviderProbe(p, False, ["CPUExecutionProvider"], reason))
    result = check_providers(CONTEXT)
    assert result.status == "fail"
    assert "libcublasLt.so.12" in result.summary and "fall back to the CPU" in result.summary
    assert result.fix and "cuDNN" in result.fix


def test_working_cuda_is_ok_even_without_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "read_gpus", lambda: GpuReport((H100,)))
    monkeypatch.setattr(
        onnxruntime, "get_available_providers",
        lambda: ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    )

    def probe(provider: str) -> ProviderProbe:
        if provider == "CUDAExecutionProvider":
            return ProviderProbe(provider, True, [provider, "CPUExecutionProvider"])
        return ProviderProbe(provider, False, ["CPUExecutionProvider"], "cannot load libnvinfer.so.10")

    monkeypatch.setattr(check_module, "probe_provider", probe)
    result = check_providers(CONTEXT)
    assert result.status == "ok" and "models run on CUDAExecutionProvider" in result.summary


def test_reason_is_read_from_onnxruntimes_log() -> None:
    log = (
        "2025-01-01 10:00:00.000 [E:onnxruntime:Default, provider_bridge_ort.cc:1992 TryGetProviderInfo_CUDA] "
        "/onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1637 onnxruntime::Provider& "
        "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
        "libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file: No such file or directory\n"
        "2025-01-01 10:00:00.001 [W:onnxruntime:Default, onnxruntime_pybind_state.cc:965 CreateExecutionProviderInstance] "
        "Failed to create CUDAExecutionProvider.\n"
    )
    assert reason_from_log(log) == (
        "cannot load libonnxruntime_providers_cuda.so: libcudnn.so.9: cannot open shared object file: No such file or directory"
    )
    assert reason_from_log("") is None
