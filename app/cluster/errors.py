"""What the user can fix when the cluster cannot be used: one line naming the fix."""

from __future__ import annotations

from engines.errors import SwapCastError

INSTALL_FIX = "pip install 'swapcast[cluster]'"


class ClusterUnavailable(SwapCastError):
    """Ray is not installed, or the cluster's address did not answer. Nothing was claimed."""

    exit_code = 2


def ray_missing() -> ClusterUnavailable:
    return ClusterUnavailable("Ray is not installed (needed for --ray)", f"install it: `{INSTALL_FIX}`")


def unreachable(address: str, reason: str) -> ClusterUnavailable:
    return ClusterUnavailable(
        f"the Ray cluster at {address} did not answer ({reason})",
        "check the address (auto, ray://HOST:10001 or HOST:6379) and that the cluster is running",
    )
