"""Building integrations.json files around the stand-ins, for the tests."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

STANDINS = Path(__file__).resolve().parent
FACEFUSION_DIR = STANDINS / "facefusion"
DEEP_LIVE_CAM_DIR = STANDINS / "deep_live_cam"
SERVER_SCRIPT = STANDINS / "facefusion_server.py"

# Quick clocks: the stand-ins print within milliseconds (tests of the clocks set their own, tighter).
FAST_TIMEOUTS = {"startS": 10, "idleS": 3.0, "totalS": 60, "healthS": 5}
NO_WAIT_RETRIES = {"attempts": 1, "backoffS": 0.01, "maxBackoffS": 0.05}
ALL_OFFLINE = ["image_to_image", "image_to_video"]


def builtin_entry(priority: int = 50, **extra: Any) -> dict[str, Any]:
    return {"kind": "builtin", "enabled": True, "priority": priority, "transport": "inprocess",
            "supportedModes": ["image_to_camera", *ALL_OFFLINE], **extra}


def facefusion_entry(priority: int = 80, **extra: Any) -> dict[str, Any]:
    return {"kind": "facefusion", "enabled": True, "priority": priority, "transport": "subprocess",
            "path": str(FACEFUSION_DIR), "python": sys.executable, "supportedModes": ALL_OFFLINE,
            "timeouts": dict(FAST_TIMEOUTS), "retries": dict(NO_WAIT_RETRIES), **extra}


def deep_live_cam_entry(priority: int = 60, **extra: Any) -> dict[str, Any]:
    return {"kind": "deep-live-cam", "enabled": True, "priority": priority, "transport": "subprocess",
            "path": str(DEEP_LIVE_CAM_DIR), "python": sys.executable, "supportedModes": ALL_OFFLINE,
            "timeouts": dict(FAST_TIMEOUTS), "retries": dict(NO_WAIT_RETRIES), **extra}


def http_entry(url: str, priority: int = 70, **extra: Any) -> dict[str, Any]:
    return {"kind": "facefusion", "enabled": True, "priority": priority, "transport": "http", "url": url,
            "supportedModes": ALL_OFFLINE, "timeouts": dict(FAST_TIMEOUTS), "retries": dict(NO_WAIT_RETRIES), **extra}


def document(engines: dict[str, dict[str, Any]], **top: Any) -> dict[str, Any]:
    return {"version": 1, "engines": engines, **top}


def write_integrations(folder: Path, engines: dict[str, dict[str, Any]], **top: Any) -> Path:
    path = folder / "integrations.json"
    path.write_text(json.dumps(document(engines, **top), indent=2))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


IROOP_DIR = STANDINS / "iroop"
COMFYUI_WORKFLOW = "comfyui/reactor_faceswap.json"  # the shipped default, relative to resources/


def iroop_entry(priority: int = 60, **extra: Any) -> dict[str, Any]:
    return {**deep_live_cam_entry(priority), "kind": "iroop", "path": str(IROOP_DIR), **extra}


def comfyui_entry(url: str, priority: int = 90, **extra: Any) -> dict[str, Any]:
    return {"kind": "comfyui", "enabled": True, "priority": priority, "transport": "websocket", "url": url,
            "workflow": COMFYUI_WORKFLOW, "supportedModes": ALL_OFFLINE, "timeouts": dict(FAST_TIMEOUTS),
            "retries": dict(NO_WAIT_RETRIES), **extra}
