"""`swapcast engines [--json]`: every engine of integrations.json — available or why not, priority,
modes, health, and whether the user's files leave this machine to reach it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from engines.external.base import Availability, EngineAdapter
from engines.external.config import Transport
from engines.external.origin import Origin, locate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "engines", help="list the face-swap engines: availability (and why not), priority, modes, health",
        description="Lists the engines of integrations.json (built-in, FaceFusion, Deep-Live-Cam, iRoop, ComfyUI): whether each "
                    "can run here and why not, its priority (higher is tried first), the modes it serves and "
                    "its health. Settings: SWAPCAST_INTEGRATIONS=FILE, else <settings>/integrations.json, else "
                    "the shipped defaults.")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.set_defaults(handler=run)


def collect() -> dict[str, Any]:
    from app.monitor.health import HealthMonitor
    from app.engine_host import cache as engine_cache

    manager = engine_cache.shared_manager()
    # A listing must not start servers: restart=False.
    monitor = HealthMonitor(manager, restart=False, loaded_health=engine_cache.loaded_health)
    engines = []
    try:
        for adapter in manager.adapters():
            try:
                availability = adapter.check()
            except Exception as error:  # noqa: BLE001 — one broken adapter must not hide the others
                availability = Availability.no(f"check failed: {type(error).__name__}: {error}")
            status = manager.status(adapter, availability).to_dict()
            report = monitor.evaluate(adapter, availability).to_dict()
            status["health"] = {key: report[key] for key in ("state", "reason", "crashes", "restarts", "check_ms",
                                                             "metrics")}
            status.update(_where_files_go(adapter))
            engines.append(status)
    finally:
        monitor.stop()
    return {"config": str(engine_cache.integrations_path()), "memory_strategy": manager.config.memory_strategy.value,
            "engines": engines}


def _where_files_go(adapter: EngineAdapter) -> dict[str, Any]:
    """`remote` (its URL is off this machine), `files_leave_machine` (remote and allowed: when it
    runs, the user's files go there) and `sends_to`, the origin of an engine reached over the network."""
    config = adapter.config
    if config.transport not in (Transport.HTTP, Transport.WEBSOCKET) or not config.url:
        return {"remote": False, "files_leave_machine": False, "sends_to": None, "sends_to_addresses": []}
    destination = locate(Origin.of(config.url))
    remote = not destination.on_this_machine
    return {"remote": remote, "files_leave_machine": remote and config.allow_remote,
            "sends_to": str(destination.origin), "sends_to_addresses": list(destination.addresses)}


def _files(engine: dict[str, Any]) -> str:
    if engine["files_leave_machine"]:
        return "LEAVE MACHINE"
    return "remote: refused" if engine["remote"] else "stay here"


def render(data: dict[str, Any]) -> str:
    rows = [("NAME", "TRANSPORT", "ENABLED", "AVAILABLE", "PRIORITY", "MODES", "HEALTH", "FILES")]
    notes: list[str] = []
    for engine in data["engines"]:
        modes = ",".join(m.replace("image_to_", "") for m in engine["modes"])
        rows.append((engine["name"], engine["transport"], "yes" if engine["enabled"] else "no",
                     "yes" if engine["available"] else "no", str(engine["priority"]), modes,
                     engine["health"]["state"], _files(engine)))
        if engine["files_leave_machine"]:
            shown = ", ".join(engine["sends_to_addresses"]) or "unresolved"
            plain = " over unencrypted http" if engine["sends_to"].startswith("http:") else ""
            notes.append(f"{engine['name']}: your photos and videos leave this machine: they are sent to "
                         f"{engine['sends_to']} ({shown}){plain}")
        reason = engine["health"]["reason"] if engine["enabled"] else engine["reason"]
        if not engine["available"] and engine["reason"]:
            reason = engine["reason"]
        if reason:
            version = f" [{engine['version']}]" if engine["version"] else ""
            notes.append(f"{engine['name']}{version}: {reason}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines += ["", *notes, "", f"settings: {data['config']}   memory strategy: {data['memory_strategy']}",
              "modes: camera = live (in-process engines only), image, video; higher priority is tried first"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    data = collect()
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0
