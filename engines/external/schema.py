"""A small JSON Schema checker for the keywords resources/integrations.schema.json uses.

The `jsonschema` package is not a dependency of SwapCast, and its messages ("'x' is not of type
'integer'") do not say which engine entry is wrong. This covers the subset the schema file uses
(tests check that the file uses no other keyword) and words each problem for a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

# Keywords that only describe (never constrain) a value.
ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "default", "examples"})
CHECKED = frozenset({
    "$ref", "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "minLength", "maxLength",
    "pattern", "minItems", "maxItems", "uniqueItems", "items", "properties", "required",
    "additionalProperties", "propertyNames", "minProperties",
})
SUPPORTED = ANNOTATIONS | CHECKED


@dataclass(frozen=True)
class SchemaProblem:
    path: Path  # where in the document: ("engines", "facefusion", "priority")
    message: str  # what is wrong, without the location


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _is_type(value: Any, name: str) -> bool:
    # bool is an int in Python but not in JSON.
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "null": value is None,
    }.get(name, False)


_ARTICLE = {"integer": "an integer", "number": "a number", "string": "a string", "boolean": "true or false",
            "object": "an object", "array": "a list", "null": "null"}


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


class SchemaChecker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema

    def problems(self, document: Any) -> list[SchemaProblem]:
        return list(self._check(document, self.schema, ()))

    def unsupported_keywords(self) -> set[str]:
        """Keywords in the schema this checker would ignore (a test keeps this empty)."""
        found: set[str] = set()

        def walk(node: Any, in_properties: bool = False) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if not in_properties and key not in SUPPORTED:
                        found.add(key)
                    walk(value, in_properties=(key in ("properties", "$defs") and not in_properties))
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(self.schema)
        return found

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, not {ref!r}")
        node: Any = self.schema
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def _check(self, value: Any, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if "$ref" in schema:
            yield from self._check(value, self._resolve(schema["$ref"]), path)
            return
        expected = schema.get("type")
        if expected is not None:
            names = [expected] if isinstance(expected, str) else list(expected)
            if not any(_is_type(value, name) for name in names):
                wanted = " or ".join(_ARTICLE.get(name, name) for name in names)
                yield SchemaProblem(path, f"must be {wanted}, not {_type_name(value)} ({_show(value)})")
                return  # the other keywords make no sense on the wrong type
        if "const" in schema and value != schema["const"]:
            yield SchemaProblem(path, f"must be {_show(schema['const'])}, not {_show(value)}")
        if "enum" in schema and value not in schema["enum"]:
            choices = ", ".join(_show(choice) for choice in schema["enum"])
            yield SchemaProblem(path, f"must be one of {choices}; {_show(value)} is not")
        if _is_type(value, "number"):
            yield from self._check_number(value, schema, path)
        if isinstance(value, str):
            yield from self._check_string(value, schema, path)
        if isinstance(value, list):
            yield from self._check_array(value, schema, path)
        if isinstance(value, dict):
            yield from self._check_object(value, schema, path)

    @staticmethod
    def _check_number(value: float, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if "minimum" in schema and value < schema["minimum"]:
            yield SchemaProblem(path, f"must be at least {schema['minimum']}, not {_show(value)}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            yield SchemaProblem(path, f"must be more than {schema['exclusiveMinimum']}, not {_show(value)}")
        if "maximum" in schema and value > schema["maximum"]:
            yield SchemaProblem(path, f"must be at most {schema['maximum']}, not {_show(value)}")

    @staticmethod
    def _check_string(value: str, schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if "minLength" in schema and len(value) < schema["minLength"]:
            yield SchemaProblem(path, "must not be empty" if schema["minLength"] == 1
                                else f"must be at least {schema['minLength']} characters long")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield SchemaProblem(path, f"must be at most {schema['maxLength']} characters long")
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            yield SchemaProblem(path, f"{_show(value)} does not match the expected form ({schema['pattern']})")

    def _check_array(self, value: list[Any], schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if "minItems" in schema and len(value) < schema["minItems"]:
            yield SchemaProblem(path, "must not be empty" if schema["minItems"] == 1
                                else f"needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield SchemaProblem(path, f"takes at most {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            seen: list[Any] = []
            for item in value:
                if item in seen:
                    yield SchemaProblem(path, f"lists {_show(item)} twice")
                    break
                seen.append(item)
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                yield from self._check(item, schema["items"], path + (index,))

    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: Path) -> Iterator[SchemaProblem]:
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            yield SchemaProblem(path, f"needs at least {schema['minProperties']} entr{'y' if schema['minProperties'] == 1 else 'ies'}")
        for name in schema.get("required", ()):
            if name not in value:
                yield SchemaProblem(path + (name,), "is missing (required)")
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        names = schema.get("propertyNames")
        for key, item in value.items():
            if isinstance(names, dict):
                for problem in self._check(key, names, path + (key,)):
                    yield SchemaProblem(problem.path, f"is not a valid name: {problem.message}")
            if key in properties:
                yield from self._check(item, properties[key], path + (key,))
            elif extra is False:
                known = ", ".join(sorted(properties)) or "none"
                yield SchemaProblem(path + (key,), f"is not a known setting (known: {known})")
            elif isinstance(extra, dict):
                yield from self._check(item, extra, path + (key,))
