"""A ComfyUI workflow in API format, and the mapping that says where SwapCast's inputs go in it.

The workflow is the user's own, exported from ComfyUI in API format: `{node id: {"class_type": ...,
"inputs": {...}}}` (an input is a literal, or `[node id, output index]` for a link). The mapping is a
small JSON file beside it (docs/ENGINES.md):

    {"source": "2.image", "target": "1.image", "output": "4",
     "sourceFace": "3.source_faces_index",
     "options": {"enhance": {"3.face_restore_model": "GFPGANv1.4.pth"},
                 "faces:all": {"3.input_faces_index": "0,1,2,3,4,5,6,7,8,9"}},
     "parameters": {"3.swap_model": "inswapper_128.onnx"}}

`NODE.INPUT` names one input of one node; `output` the node whose images are the result. `parameters`
are set on every prompt; `options` only when a job asks for them (a job option the mapping has no
entry for is refused, so another engine takes the job). Everything is checked twice before a job
runs: against the workflow itself (load) and against the server's installed nodes (`GET /object_info`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.json_file import read_json
from engines.resources import resources_dir

from ..errors import EngineUnavailable

API_FORMAT_HINT = "export it from ComfyUI in API format (Workflow → Export (API), or 'Save (API Format)')"
OPTION_NAMES = ("enhance", "faces:all")  # job options a mapping may serve


class WorkflowProblem(EngineUnavailable):
    """The workflow or its mapping cannot be used (missing, not JSON, not API format, wrong names)."""


@dataclass(frozen=True)
class InputRef:
    node: str
    input: str

    @classmethod
    def parse(cls, text: Any, where: str) -> InputRef:
        # Node ids may hold ':' (grouped nodes); input names never hold '.', so split on the last one.
        if not isinstance(text, str) or "." not in text.strip(".") or text.count(" "):
            raise ValueError(f"{where} must be NODE.INPUT (e.g. \"3.image\"), not {json.dumps(text)}")
        node, name = text.rsplit(".", 1)
        return cls(node, name)

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


Settings = tuple[tuple[InputRef, Any], ...]


@dataclass(frozen=True)
class Mapping:
    source: InputRef
    target: InputRef
    output: str  # the node whose images are the result
    source_face: InputRef | None = None  # gets --source-face N (as text, as ReActor takes it)
    parameters: Settings = ()
    options: dict[str, Settings] = field(default_factory=dict)

    def refs(self) -> list[tuple[str, InputRef]]:
        """Every input the mapping names, with where it is named."""
        named = [("source", self.source), ("target", self.target)]
        if self.source_face is not None:
            named.append(("sourceFace", self.source_face))
        named += [("parameters", ref) for ref, _ in self.parameters]
        named += [(f"options.{option}", ref) for option, settings in self.options.items() for ref, _ in settings]
        return named


@dataclass(frozen=True)
class Workflow:
    path: Path
    mapping_path: Path
    nodes: dict[str, dict[str, Any]]
    mapping: Mapping

    def class_of(self, node: str) -> str:
        return str(self.nodes[node]["class_type"])

    def prompt(self, source: str, target: str, options: tuple[str, ...] = (),
               source_face: int | None = None) -> dict[str, Any]:
        """The API-format prompt for one run: uploaded file names and the job's options set."""
        prompt = copy.deepcopy(self.nodes)
        settings: list[tuple[InputRef, Any]] = [(self.mapping.source, source), (self.mapping.target, target),
                                                *self.mapping.parameters]
        for option in options:
            settings += self.mapping.options[option]
        if source_face is not None and self.mapping.source_face is not None:
            settings.append((self.mapping.source_face, str(source_face)))
        for ref, value in settings:
            prompt[ref.node]["inputs"][ref.input] = value
        return prompt

    def server_problems(self, object_info: dict[str, Any], url: str) -> list[str]:
        """What the server at `url` lacks to run this workflow (empty: it can), one line each."""
        problems: list[str] = []
        for node, spec in self.nodes.items():
            kind = str(spec["class_type"])
            if kind not in object_info:
                problems.append(f"node {node} ({kind}) is not installed on the server at {url}: install the custom "
                                f"node that provides {kind} in ComfyUI (e.g. with ComfyUI-Manager) and restart it, "
                                f"or change the workflow {self.path.name}")
        if problems:
            return problems
        mapped = {(ref.node, ref.input) for _, ref in self.mapping.refs()}
        for where, ref in self.mapping.refs():
            declared = _declared_inputs(object_info[self.class_of(ref.node)])
            if ref.input not in declared and ref.input not in self.nodes[ref.node]["inputs"]:
                problems.append(f"mapping {where}: node {ref.node} ({self.class_of(ref.node)}) has no input "
                                f"{ref.input!r} on the server (it has: {', '.join(sorted(declared)) or 'none'})")
        output_info = object_info[self.class_of(self.mapping.output)]
        if output_info.get("output_node") is False:
            problems.append(f"mapping output: node {self.mapping.output} ({self.class_of(self.mapping.output)}) "
                            "saves nothing; name a SaveImage (or PreviewImage) node")
        # Choices the server offers (models, detectors) are known now: say so before a job, not after.
        for node, spec in self.nodes.items():
            declared = _declared_inputs(object_info[str(spec["class_type"])])
            for name, value in spec["inputs"].items():
                choices = _choices(declared.get(name))
                if (node, name) in mapped or choices is None or isinstance(value, list) or value in choices:
                    continue
                shown = ", ".join(map(str, choices[:6])) + (", …" if len(choices) > 6 else "")
                problems.append(f"node {node} ({spec['class_type']}): {name} {value!r} is not on the server at "
                                f"{url} (it has: {shown or 'nothing'}); install it or pick one of those")
        return problems


def _declared_inputs(info: dict[str, Any]) -> dict[str, Any]:
    inputs = info.get("input", {}) if isinstance(info, dict) else {}
    declared: dict[str, Any] = {}
    for group in ("required", "optional"):
        if isinstance(inputs.get(group), dict):
            declared.update(inputs[group])
    return declared


def _choices(spec: Any) -> list[Any] | None:
    """The allowed values of a combo input (`[[choice, ...], {...}]`, or `["COMBO", {"options": [...]}]`)."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict) and isinstance(spec[1].get("options"), list):
        return spec[1]["options"]
    return None


def resolve(path: str) -> Path:
    """A workflow path of integrations.json: absolute as it is, relative to SwapCast's resources."""
    given = Path(path)
    return given if given.is_absolute() else resources_dir() / given


def default_mapping_path(workflow: Path) -> Path:
    return workflow.with_name(workflow.name.removesuffix(".json") + ".mapping.json")


def load_workflow(workflow: str, mapping: str = "") -> Workflow:
    """The workflow and its mapping, checked against each other; WorkflowProblem naming what is wrong."""
    if not workflow:
        raise WorkflowProblem("no workflow file set", "set workflow in its integrations.json entry (docs/ENGINES.md)")
    path = resolve(workflow)
    nodes = _api_format(path, _read(path, "workflow file"))
    mapping_path = resolve(mapping) if mapping else default_mapping_path(path)
    try:
        parsed = _mapping(_read(mapping_path, "workflow mapping"))
    except ValueError as error:
        raise WorkflowProblem(f"{mapping_path}: {error}", "see the mapping format in docs/ENGINES.md") from None
    loaded = Workflow(path, mapping_path, nodes, parsed)
    for where, ref in parsed.refs():
        if ref.node not in nodes:
            raise WorkflowProblem(f"{mapping_path.name}: {where} names node {ref.node}, which {path.name} does not "
                                  f"have (its nodes: {', '.join(nodes)})", "fix the mapping to name the workflow's nodes")
    if parsed.output not in nodes:
        raise WorkflowProblem(f"{mapping_path.name}: output names node {parsed.output}, which {path.name} does not have",
                              "name the SaveImage node of the workflow")
    for where, ref in (("source", parsed.source), ("target", parsed.target)):
        if ref.input not in nodes[ref.node]["inputs"]:
            raise WorkflowProblem(f"{mapping_path.name}: {where} names input {ref.input!r} of node {ref.node} "
                                  f"({loaded.class_of(ref.node)}), which has no such input in {path.name}",
                                  "name the image input of a LoadImage node")
    return loaded


def _read(path: Path, what: str) -> Any:
    fix = API_FORMAT_HINT if what == "workflow file" else "fix the JSON (docs/ENGINES.md has the format)"
    try:
        return read_json(path, WorkflowProblem, fix)
    except FileNotFoundError:
        raise WorkflowProblem(f"{what} {path} does not exist", "fix the path in integrations.json") from None


def _api_format(path: Path, data: Any) -> dict[str, dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        raise WorkflowProblem(f"{path} is a ComfyUI workflow in the UI format (nodes and links), not the API "
                              "format SwapCast sends", API_FORMAT_HINT)
    if not isinstance(data, dict) or not data:
        raise WorkflowProblem(f"{path} is not a ComfyUI API-format workflow (an object of nodes)", API_FORMAT_HINT)
    for node, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("class_type"), str) \
                or not isinstance(spec.get("inputs"), dict):
            raise WorkflowProblem(f"{path}: node {node} has no class_type and inputs: not the API format",
                                  API_FORMAT_HINT)
    return data


def _settings(data: Any, where: str) -> Settings:
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object of NODE.INPUT: value")
    return tuple((InputRef.parse(key, f"{where} key"), value) for key, value in data.items())


def _mapping(data: Any) -> Mapping:
    if not isinstance(data, dict):
        raise ValueError("the mapping must be a JSON object")
    for needed in ("source", "target", "output"):
        if needed not in data:
            raise ValueError(f"{needed} is missing (required)")
    known = {"source", "target", "output", "sourceFace", "parameters", "options", "$comment"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{unknown[0]} is not a known mapping field (known: {', '.join(sorted(known))})")
    options = data.get("options", {})
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    for option in options:
        if option not in OPTION_NAMES:
            raise ValueError(f"options.{option} is not an option SwapCast has (known: {', '.join(OPTION_NAMES)})")
    if not isinstance(data["output"], (str, int)):
        raise ValueError("output must be a node id, e.g. \"4\"")
    return Mapping(
        source=InputRef.parse(data["source"], "source"),
        target=InputRef.parse(data["target"], "target"),
        output=str(data["output"]),
        source_face=InputRef.parse(data["sourceFace"], "sourceFace") if "sourceFace" in data else None,
        parameters=_settings(data.get("parameters", {}), "parameters"),
        options={name: _settings(value, f"options.{name}") for name, value in options.items()},
    )
