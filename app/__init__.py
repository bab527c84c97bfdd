"""SwapCast: the product around the engines (CLI, pipeline, jobs, monitors, GUI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("swapcast")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
