@echo off
rem One-command set-up on Windows: creates .venv and installs SwapCast (editable).
rem   setup_virtual_env.bat [--gpu|--cpu|--directml] [--dev] [--locked] [--recreate]
rem --locked installs the exact, hash-checked versions of requirements\lock-*.txt (what CI tests).
rem Picks onnxruntime-gpu (CUDA) when nvidia-smi sees a GPU, onnxruntime otherwise; --directml for
rem AMD/Intel GPUs. Removes the CPU onnxruntime that insightface pulls in (it overwrites the GPU
rem build's files), then verifies that the expected execution provider really loads.
setlocal enabledelayedexpansion
cd /d "%~dp0"

set MODE=
set DEV=0
set RECREATE=0
set LOCKED=0
:parse
if "%~1"=="" goto parsed
if "%~1"=="--gpu" set MODE=gpu
if "%~1"=="--cpu" set MODE=cpu
if "%~1"=="--directml" set MODE=directml
if "%~1"=="--dev" set DEV=1
if "%~1"=="--recreate" set RECREATE=1
if "%~1"=="--locked" set LOCKED=1
shift
goto parse
:parsed

if "%MODE%"=="" (
    nvidia-smi -L >nul 2>&1 && (set MODE=gpu) || (set MODE=cpu)
)
if "%MODE%"=="gpu" (set ORT=onnxruntime-gpu& set PROVIDER=CUDAExecutionProvider)
if "%MODE%"=="cpu" (set ORT=onnxruntime& set PROVIDER=CPUExecutionProvider)
if "%MODE%"=="directml" (set ORT=onnxruntime-directml& set PROVIDER=DmlExecutionProvider)
set EXTRAS=%MODE%
if "%DEV%"=="1" set EXTRAS=%MODE%,dev
set LOCK=requirements\lock-%MODE%.txt
if "%DEV%"=="1" set LOCK=requirements\lock-%MODE%-dev.txt
if "%LOCKED%"=="1" if not exist %LOCK% (
    echo setup: ERROR: no lock file %LOCK% - leave out --locked
    exit /b 1
)

where py >nul 2>&1 && (set PY_LAUNCH=py -3) || (set PY_LAUNCH=python)
%PY_LAUNCH% -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)" || (
    echo setup: ERROR: SwapCast needs Python 3.11 or newer - install it from python.org
    exit /b 1
)

if "%RECREATE%"=="1" if exist .venv rmdir /s /q .venv
if not exist .venv\Scripts\python.exe (
    echo setup: creating .venv
    %PY_LAUNCH% -m venv .venv || (echo setup: ERROR: could not create .venv & exit /b 1)
    .venv\Scripts\python.exe -m pip install --quiet --upgrade pip
)
set PY=.venv\Scripts\python.exe

rem A lock is complete, every dependency pinned and hashed: --no-deps keeps pip from adding any.
if "%LOCKED%"=="1" (
    echo setup: installing the locked set %LOCK%, then SwapCast ^(editable^)
    %PY% -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r %LOCK% || (echo setup: ERROR: pip install -r %LOCK% failed & exit /b 1)
    %PY% -m pip install --quiet --disable-pip-version-check --no-deps -e . || (echo setup: ERROR: pip install -e . failed & exit /b 1)
) else (
    echo setup: installing SwapCast ^(editable^) with extras [%EXTRAS%]
    %PY% -m pip install --quiet --disable-pip-version-check -e ".[%EXTRAS%]" || (echo setup: ERROR: pip install failed & exit /b 1)
)

rem Exactly one onnxruntime build: remove the others, reinstall ours without touching its deps.
for %%P in (onnxruntime onnxruntime-gpu onnxruntime-directml) do (
    if not "%%P"=="%ORT%" (
        %PY% -m pip show %%P >nul 2>&1 && (
            echo setup: removing %%P, which would replace %ORT%'s files
            %PY% -m pip uninstall --quiet -y %%P %ORT%
            if "%LOCKED%"=="1" (
                %PY% -m pip install --quiet --require-hashes --no-deps -r %LOCK%
            ) else (
                %PY% -m pip install --quiet --force-reinstall --no-deps %ORT%
            )
        )
    )
)

%PY% -c "import onnxruntime as o, sys; p=o.get_available_providers(); print('setup: onnxruntime', o.__version__, p); sys.exit(0 if '%PROVIDER%' in p else 1)" || (
    echo setup: ERROR: %PROVIDER% does not load - re-run with --recreate, or see README Troubleshooting
    exit /b 1
)
.venv\Scripts\swapcast.exe --version || (echo setup: ERROR: the swapcast command does not start & exit /b 1)
echo setup: done - run: .venv\Scripts\swapcast.exe
