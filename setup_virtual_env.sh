#!/usr/bin/env bash
# One-command set-up: turns a fresh clone into a working .venv.
#   ./setup_virtual_env.sh [--gpu|--cpu] [--dev] [--locked] [--python PYTHON] [--recreate]
# Picks onnxruntime-gpu when nvidia-smi sees a GPU, onnxruntime otherwise; --gpu/--cpu force one.
# --locked installs the exact, hash-checked versions of requirements/lock-*.txt (what CI tests);
# without it you get the newest releases pyproject.toml allows.
# insightface depends on the CPU onnxruntime, whose files silently replace the GPU build's:
# this script removes that build again and verifies that the expected providers really load.
set -euo pipefail

cd "$(dirname "$0")"
VENV=.venv
MODE=""
DEV=0
RECREATE=0
LOCKED=0
PYTHON_BIN="${PYTHON:-}"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --gpu) MODE=gpu ;;
        --cpu) MODE=cpu ;;
        --dev) DEV=1 ;;
        --recreate) RECREATE=1 ;;
        --locked) LOCKED=1 ;;
        --python) PYTHON_BIN="$2"; shift ;;
        -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -z "$MODE" ]]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        MODE=gpu
    else
        MODE=cpu
    fi
fi

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1; }
if [[ -z "$PYTHON_BIN" ]]; then
    for candidate in python3 python3.13 python3.12 python3.11 python; do
        if python_ok "$candidate"; then PYTHON_BIN="$candidate"; break; fi
    done
fi
[[ -n "$PYTHON_BIN" ]] || die "no Python 3.11 or newer found — install one, or pass --python /path/to/python3.11"
python_ok "$PYTHON_BIN" \
    || die "$PYTHON_BIN is $("$PYTHON_BIN" -V 2>&1); SwapCast needs Python 3.11 or newer — pass --python /path/to/python3.11"

if [[ "$RECREATE" == 1 && -d "$VENV" ]]; then rm -rf "$VENV"; fi
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV with $("$PYTHON_BIN" -V 2>&1)"
    "$PYTHON_BIN" -m venv "$VENV" || die "could not create $VENV — on Debian/Ubuntu: sudo apt install python3-venv"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

if [[ "$MODE" == gpu ]]; then ORT=onnxruntime-gpu; OTHER=onnxruntime; else ORT=onnxruntime; OTHER=onnxruntime-gpu; fi
ORT_SPEC="$ORT"
[[ "$MODE" == gpu ]] && ORT_SPEC="onnxruntime-gpu[cuda,cudnn]"  # NVIDIA's CUDA/cuDNN libraries as wheels
EXTRAS="$MODE"
[[ "$DEV" == 1 ]] && EXTRAS="$EXTRAS,dev"
# (an if, not `$([[ … ]] && echo -dev)`: under set -e that substitution's failure ended the script,
# silently, for every set-up without --dev — the README's main command)
LOCK="requirements/lock-$MODE.txt"
if [[ "$DEV" == 1 ]]; then LOCK="requirements/lock-$MODE-dev.txt"; fi
[[ "$LOCKED" == 0 || -f "$LOCK" ]] || die "no lock file $LOCK — run installers/refresh_lock.sh, or leave out --locked"

# A stamp of what was installed makes a second run quick and change nothing.
STAMP="$VENV/.swapcast-setup"
sha256_of() { cat "$@" | "$PY" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }
if [[ "$LOCKED" == 1 ]]; then
    WANT="$(sha256_of pyproject.toml "$LOCK") $EXTRAS locked"
else
    WANT="$(sha256_of pyproject.toml) $EXTRAS"
fi
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && "$PY" -c 'import app, engines' 2>/dev/null; then
    say "already set up ($EXTRAS); verifying"
elif [[ "$LOCKED" == 1 ]]; then
    say "installing the locked set $LOCK, then SwapCast (editable)"
    # The lock is complete (every dependency, pinned and hashed): --no-deps keeps pip from adding any.
    "${PIP[@]}" install --quiet --require-hashes --no-deps -r "$LOCK" || die "pip install -r $LOCK failed — see the messages above"
    "${PIP[@]}" install --quiet --no-deps -e . || die "pip install -e . failed — see the messages above"
    rm -f "$STAMP"
else
    say "installing SwapCast (editable) with extras [$EXTRAS]"
    "${PIP[@]}" install --quiet -e ".[$EXTRAS]" || die "pip install failed — see the messages above"
    rm -f "$STAMP"
fi

installed() { "${PIP[@]}" show "$1" >/dev/null 2>&1; }

# Exactly one onnxruntime build may be installed; they share the `onnxruntime` module folder.
if installed "$OTHER" || ! "$PY" -c 'import onnxruntime' 2>/dev/null; then
    say "repairing onnxruntime: removing $OTHER, reinstalling $ORT"
    "${PIP[@]}" uninstall --quiet -y "$OTHER" "$ORT" >/dev/null 2>&1 || true
    if [[ "$LOCKED" == 1 ]]; then
        # Only what is now missing (our build) is installed again, at its locked version and hash.
        "${PIP[@]}" install --quiet --require-hashes --no-deps -r "$LOCK" || die "could not install $ORT from $LOCK"
    else
        "${PIP[@]}" install --quiet --force-reinstall --no-deps "$ORT" || die "could not install $ORT"
        # --no-deps skipped its own needs; they are already there from the first install, but make sure.
        "${PIP[@]}" install --quiet "$ORT_SPEC" || die "could not install the dependencies of $ORT"
    fi
fi

# Verify that the providers we expect really load (creating a session, not just listing them).
"$PY" - "$MODE" <<'PYEOF' || die "onnxruntime check failed (see above) — re-run with --recreate, or --cpu to use the CPU build"
import sys
import onnx
from onnx import TensorProto, helper
import onnxruntime as ort

mode = sys.argv[1]
graph = helper.make_graph(
    [helper.make_node("Identity", ["x"], ["y"])], "probe",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
if hasattr(ort, "preload_dlls") and mode == "gpu":
    ort.preload_dlls()  # load the CUDA/cuDNN wheels' libraries before the provider needs them
available = ort.get_available_providers()
print(f"setup: onnxruntime {ort.__version__}, device {ort.get_device()}, providers {available}")
if mode == "gpu":
    if "CUDAExecutionProvider" not in available:
        print("setup: ERROR: onnxruntime-gpu is installed but CUDAExecutionProvider is missing "
              "(the CPU build may have replaced it)", file=sys.stderr)
        sys.exit(1)
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    if session.get_providers()[0] != "CUDAExecutionProvider":
        print("setup: ERROR: CUDAExecutionProvider is installed but failed to load (onnxruntime's reason is "
              "above: usually an NVIDIA driver too old for this CUDA, or no GPU visible) — update the driver, "
              "or run with --cpu (see README, Troubleshooting)", file=sys.stderr)
        sys.exit(1)
    print("setup: CUDAExecutionProvider loads")
else:
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    print("setup: CPUExecutionProvider loads")
PYEOF

echo "$WANT" > "$STAMP"
"$VENV/bin/swapcast" --version >/dev/null || die "the swapcast command does not start"
say "done — run: $VENV/bin/swapcast   (or $VENV/bin/swapcast --help)"
