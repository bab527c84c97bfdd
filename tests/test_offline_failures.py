"""What a failure inside an in-process engine means for a job, decided by the error's type first
(onnxruntime's one class per status code, OSError's errno) and by onnxruntime's text only as the
last resort for its catch-all codes. The errors here are real: provoked on tiny onnx graphs."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from engines.base import Engine, EngineHealth, Frame, HealthState, Identity, LoadOptions, ProgressFn, SwapContext
from engines.builtin.runtime.failures import classify
from engines.errors import OutputError, TransientError
from engines.external.config import Mode, parse_integrations
from engines.external.errors import EngineFailure
from engines.external.inprocess import InProcessAdapter, VideoOutcome
from engines.imaging import read_image, write_image_atomic
from engines.manager import EngineManager
from standins.helpers import builtin_entry, document


def expand_session() -> ort.InferenceSession:
    """y = Expand(x, shape): the output's size is whatever `shape` asks for."""
    graph = helper.make_graph(
        [helper.make_node("Expand", ["x", "shape"], ["y"])], "expand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
         helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_expand(x: np.ndarray, shape: Sequence[int]) -> None:
    expand_session().run(None, {"x": x, "shape": np.array(shape, np.int64)})


def provoked(work) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        work()
    except BaseException as error:  # noqa: BLE001 — the error is what the test looks at
        return error
    raise AssertionError("expected onnxruntime to fail")


def out_of_memory() -> BaseException:
    # 4e14 bytes: more than any machine's address space, refused at once (nothing is touched).
    return provoked(lambda: run_expand(np.ones(1, np.float32), [10_000_000, 10_000_000]))


def test_an_allocation_failure_in_onnxruntime_is_transient() -> None:
    error = out_of_memory()
    assert isinstance(error, ort_state.Fail)  # onnxruntime has no status code of its own for this
    sorted_error = classify(error)
    assert isinstance(sorted_error, TransientError)
    assert "Failed to allocate memory" in sorted_error.problem and "\n" not in sorted_error.one_line()


def test_a_wrong_input_to_onnxruntime_is_the_engines_failure_not_a_retry() -> None:
    error = provoked(lambda: run_expand(np.ones(2, np.float32), [3, 3]))
    assert isinstance(error, ort_state.InvalidArgument)
    assert classify(error) is None  # the manager hands the target to the next engine


def test_an_unloadable_model_is_not_retried() -> None:
    error = provoked(lambda: ort.InferenceSession(b"not a model", providers=["CPUExecutionProvider"]))
    assert isinstance(error, ort_state.InvalidProtobuf)
    assert classify(error) is None


def test_the_type_wins_over_the_text() -> None:
    """A status code that means bad input is never retried, whatever its message says."""
    assert classify(ort_state.InvalidArgument("input of size 3 is out of memory range")) is None
    assert classify(ort_state.NoSuchFile("Failed to allocate: no such file")) is None
    assert isinstance(classify(ort_state.RuntimeException("CUDA failure 2: out of memory")), TransientError)
    assert classify(ort_state.RuntimeException("Non-zero status code returned while running Conv")) is None
    # Not onnxruntime's: the text is never searched.
    assert classify(RuntimeError("out of memory")) is None


@pytest.mark.parametrize(("code", "kind"), [
    (errno.ENOSPC, OutputError), (errno.EDQUOT, OutputError), (errno.EROFS, OutputError),
    (errno.EBUSY, TransientError), (errno.EIO, None),
])
def test_os_errors_are_sorted_by_errno(tmp_path, code, kind) -> None:
    output = tmp_path / "out.png"
    sorted_error = classify(OSError(code, "as the kernel says", str(output)), output)
    assert (type(sorted_error) if sorted_error is not None else None) is kind
    if kind is OutputError:
        assert str(output) in sorted_error.problem  # type: ignore[union-attr]


def test_permission_denied_is_the_outputs_problem_only_on_the_output(tmp_path) -> None:
    output = tmp_path / "sub" / "out.png"
    assert isinstance(classify(PermissionError(errno.EACCES, "denied", str(tmp_path / "sub")), output), OutputError)
    assert classify(PermissionError(errno.EACCES, "denied", "/models/swapper.onnx"), output) is None


# ---- through the manager: the built-in adapter with a plain Engine ----------------------------------------
class FailingEngine(Engine):
    """An engine whose frames fail with a real onnxruntime error."""

    name = "failing"

    def __init__(self, failure) -> None:  # type: ignore[no-untyped-def]
        self.failure = failure
        self.calls = 0

    def load(self, options: LoadOptions, progress: ProgressFn | None = None) -> None:
        pass

    def health(self) -> EngineHealth:
        return EngineHealth(HealthState.OK)

    def identity(self, paths: Sequence[Path], name: str | None = None, face_index: int | None = None) -> Identity:
        return Identity("someone", np.ones(512, np.float32) / np.sqrt(512), tuple(str(p) for p in paths), (1,))

    def process(self, frame: Frame, context: SwapContext) -> Frame:
        self.calls += 1
        self.failure()
        return frame

    def release(self) -> None:
        pass


class Runtime:
    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines

    def engine(self, adapter: InProcessAdapter, models: str | None, *, swap: bool = True) -> Engine:
        return self.engines[adapter.name]

    def transcode(self, request, process, progress) -> VideoOutcome:  # type: ignore[no-untyped-def]
        raise AssertionError("images only here")


def manager_with(engines: dict[str, Engine]) -> EngineManager:
    config = parse_integrations(document({"builtin": builtin_entry(priority=50, retries={"attempts": 2}),
                                          "builtin-lite": builtin_entry(priority=10)}), Path("test.json"))
    return EngineManager(config, runtime=Runtime(engines), sleep=lambda _s: None)


def request(tmp_path: Path):  # type: ignore[no-untyped-def]
    from engines.external.base import SwapRequest

    target = tmp_path / "target.png"
    write_image_atomic(target, np.full((64, 64, 3), 90, np.uint8))
    return SwapRequest(sources=(target,), target=target, output=tmp_path / "out.png", mode=Mode.IMAGE_TO_IMAGE)


def test_out_of_memory_is_retried_on_the_same_engine_and_ends_transient(tmp_path) -> None:
    error = out_of_memory()

    def fail() -> None:
        raise error

    engines = {"builtin": FailingEngine(fail), "builtin-lite": FailingEngine(fail)}
    with pytest.raises(TransientError, match="Failed to allocate memory"):
        manager_with(engines).run(request(tmp_path), lambda d, t: None)
    assert engines["builtin"].calls == 2  # its two tries (retries.attempts), then the next engine
    assert not (tmp_path / "out.png").exists()


def test_an_invalid_argument_fails_over_to_the_next_engine_at_once(tmp_path) -> None:
    def fail() -> None:
        run_expand(np.ones(2, np.float32), [3, 3])

    class Passing(FailingEngine):
        def process(self, frame: Frame, context: SwapContext) -> Frame:
            return frame[:, ::-1].copy()

    engines = {"builtin": FailingEngine(fail), "builtin-lite": Passing(lambda: None)}
    req = request(tmp_path)
    outcome = manager_with(engines).run(req, lambda d, t: None)
    assert outcome.engine == "builtin-lite" and engines["builtin"].calls == 1  # no retry of a bad input
    assert "INVALID_ARGUMENT" in (outcome.failover_note() or "")
    assert np.array_equal(read_image(req.output), read_image(req.target)[:, ::-1])


def test_when_both_fail_with_different_errors_the_line_names_each(tmp_path) -> None:
    def bad_input() -> None:
        run_expand(np.ones(2, np.float32), [3, 3])

    engines = {"builtin": FailingEngine(bad_input), "builtin-lite": FailingEngine(bad_input)}
    with pytest.raises(EngineFailure, match="every engine failed .*builtin: InvalidArgument.*builtin-lite"):
        manager_with(engines).run(request(tmp_path), lambda d, t: None)


def test_a_write_failure_wrapped_by_the_video_writer_keeps_its_errno(tmp_path) -> None:
    """app/media/writer wraps a failed flush as "writing the video failed"; a full disk is still one."""
    from engines.errors import SwapCastError

    output = tmp_path / "out.mp4"
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(output))
        except OSError as cause:
            raise SwapCastError(f"{output}: writing the video failed ({cause})", "check free disk space") from cause
    except SwapCastError as wrapped:
        sorted_error = classify(wrapped, output)
    assert isinstance(sorted_error, OutputError) and "No space left on device" in sorted_error.problem
