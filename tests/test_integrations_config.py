"""integrations.json: the shipped file is valid, and every mistake is one line naming the entry and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engines.external.config import (
    MemoryStrategy, Mode, Transport, default_integrations_path, load_integrations, load_schema, parse_integrations,
)
from engines.external.errors import IntegrationConfigError
from engines.external.schema import SchemaChecker
from standins.helpers import builtin_entry, document, facefusion_entry


def test_shipped_file_is_valid_and_has_the_seven_engines() -> None:
    config = load_integrations()
    names = {engine.name: engine for engine in config.engines}
    assert set(names) == {"builtin", "builtin-lite", "facefusion", "facefusion-http", "deep-live-cam", "iroop", "comfyui"}
    assert not names["iroop"].enabled and not names["comfyui"].enabled  # they need an install / a server
    assert names["comfyui"].transport is Transport.WEBSOCKET and names["comfyui"].workflow == "comfyui/reactor_faceswap.json"
    assert names["builtin"].enabled and names["builtin"].transport is Transport.INPROCESS
    assert not names["facefusion"].enabled and names["facefusion"].path == ""
    assert not names["facefusion-http"].enabled and names["facefusion-http"].transport is Transport.HTTP
    assert not names["deep-live-cam"].enabled
    lite = names["builtin-lite"].profile
    assert lite is not None and lite.det_size == 320 and lite.load_enhancer is False and lite.threads == "auto"
    assert config.memory_strategy is MemoryStrategy.KEEP_LOADED
    assert all(Mode.IMAGE_TO_CAMERA not in e.modes for e in config.engines if not e.in_process)


def test_the_checker_understands_every_keyword_the_schema_uses() -> None:
    assert SchemaChecker(load_schema()).unsupported_keywords() == set()


def _error(data: object) -> str:
    with pytest.raises(IntegrationConfigError) as caught:
        parse_integrations(data, Path("integrations.json"))
    message = caught.value.one_line()
    assert "\n" not in message
    return message


@pytest.mark.parametrize("change, words", [
    (lambda e: e["facefusion"].update(priority="high"), "engine 'facefusion': priority must be an integer, not a string"),
    (lambda e: e["facefusion"].update(priorty=3), "engine 'facefusion': priorty is not a known setting"),
    (lambda e: e["facefusion"].update(supportedModes=["image_to_gif"]), "engine 'facefusion': supportedModes[0] must be one of"),
    (lambda e: e["facefusion"].update(transport="carrier-pigeon"), "engine 'facefusion': transport must be one of"),
    (lambda e: e["facefusion"].pop("kind"), "engine 'facefusion': kind is missing (required)"),
    (lambda e: e["facefusion"].update(timeouts={"idleS": 0}), "engine 'facefusion': timeouts.idleS must be more than 0"),
    (lambda e: e["facefusion"].update(retries={"attempts": 0}), "engine 'facefusion': retries.attempts must be at least 1"),
    (lambda e: e["facefusion"].update(enabled="yes"), "engine 'facefusion': enabled must be true or false"),
    (lambda e: e["facefusion"].update(transport="inprocess"), "engine 'facefusion': transport must be subprocess or http or websocket"),
    (lambda e: e["facefusion"].update(supportedModes=["image_to_camera"]), "engine 'facefusion': supportedModes cannot include image_to_camera"),
    (lambda e: e["builtin"].update(profile={"detSize": 12}), "engine 'builtin': profile.detSize must be at least 128"),
    (lambda e: e.update({"Bad Name": builtin_entry()}), "engine 'Bad Name' is not a valid name"),
])
def test_a_schema_error_names_the_entry_and_the_field(change, words) -> None:
    engines = {"builtin": builtin_entry(), "facefusion": facefusion_entry()}
    change(engines)
    message = _error(document(engines))
    assert message.startswith("integrations.json: ")
    assert words in message


def test_top_level_mistakes_are_named_too() -> None:
    assert "memoryStrategy must be one of" in _error(document({"builtin": builtin_entry()}, memoryStrategy="hoard"))
    assert "version must be 1" in _error({**document({"builtin": builtin_entry()}), "version": 2})
    assert "engines needs at least 1 entry" in _error(document({}))


def test_invalid_json_gives_line_and_column(tmp_path) -> None:
    path = tmp_path / "integrations.json"
    path.write_text('{\n  "version": 1,\n  "engines": {,}\n}\n')
    with pytest.raises(IntegrationConfigError) as caught:
        load_integrations(path)
    assert f"{path}: not valid JSON (line 3" in caught.value.one_line()
    assert "delete it to use the shipped defaults" in caught.value.one_line()


def test_several_problems_say_how_many_more() -> None:
    engines = {"facefusion": {**facefusion_entry(), "priority": "x", "enabled": "y"}}
    assert "(and 1 more problem)" in _error(document(engines))


def test_defaults_fill_what_an_entry_leaves_out() -> None:
    config = parse_integrations(document({"builtin": builtin_entry()}), Path("x.json"))
    engine = config.engine("builtin")
    assert engine.retries.attempts >= 1 and engine.timeouts.idle_s > 0 and engine.path == ""
    with pytest.raises(IntegrationConfigError, match="no engine named 'nope'"):
        config.engine("nope")


def test_the_shipped_file_names_its_schema() -> None:
    data = json.loads(default_integrations_path().read_text())
    assert data["$schema"] == "./integrations.schema.json"
