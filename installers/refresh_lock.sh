#!/usr/bin/env bash
# Regenerates requirements/lock-*.txt from pyproject.toml — run it after changing a dependency
# (or with --upgrade to move every pin to the newest release), then run the tests and commit.
#   installers/refresh_lock.sh [--upgrade]
# Each lock is "universal": one file for Linux, macOS and Windows and Python 3.11 and newer
# (requires-python: av 18 has no 3.10 wheels), every
# package pinned with its sha256 hashes. A lock holds exactly one onnxruntime build (the GPU and
# DirectML locks leave out the CPU build insightface asks for: it would overwrite their files).
# Uses uv (pinned below), installed into build/lock-tools the first time; needs the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TOOLS=build/lock-tools
UPGRADE=()
case "${1:-}" in
    "") ;;
    --upgrade) UPGRADE=(--upgrade) ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "refresh_lock: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac

UV="$TOOLS/bin/uv"
if ! [[ -x "$UV" && "$("$UV" --version 2>/dev/null)" == "uv $UV_VERSION"* ]]; then
    echo "refresh_lock: installing uv $UV_VERSION into $TOOLS"
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

mkdir -p requirements
lock() {  # lock NAME EXTRAS... — EXTRAS are passed as --extra; onnxruntime builds to leave out after --not
    local name="$1"; shift
    local args=() skip=0
    for word in "$@"; do
        if [[ "$word" == --not ]]; then skip=1; continue; fi
        if [[ "$skip" == 1 ]]; then args+=(--no-emit-package "$word"); else args+=(--extra "$word"); fi
    done
    echo "refresh_lock: requirements/lock-$name.txt"
    "$UV" pip compile pyproject.toml "${args[@]}" "${UPGRADE[@]}" \
        --universal --python-version 3.11 --generate-hashes --quiet \
        --custom-compile-command "installers/refresh_lock.sh" \
        --output-file "requirements/lock-$name.txt"
}

# The set CI and `./setup_virtual_env.sh --locked --dev` install (the CPU build); then the others.
lock cpu-dev cpu dev --not onnxruntime-gpu onnxruntime-directml
lock cpu cpu --not onnxruntime-gpu onnxruntime-directml
lock gpu-dev gpu dev --not onnxruntime onnxruntime-directml
lock gpu gpu --not onnxruntime onnxruntime-directml
lock directml-dev directml dev --not onnxruntime onnxruntime-gpu
lock directml directml --not onnxruntime onnxruntime-gpu
echo "refresh_lock: done — now run: ./setup_virtual_env.sh --locked --dev --recreate && QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest"
