"""Loading flows from `ivr_flows/`: strict YAML (no duplicate keys), the model, the checks; and the flow a DID
reaches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.model_errors import ContentError, format_loc
from cti.ivr.checks import graph_errors, sound_errors
from cti.ivr.model import _ID, FLOWS_DIR, NODE_TYPES, SOUNDS_DIR, Flow

# --- loading ------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML that refuses duplicate keys: a second `menu:` silently replacing the first is a lost node."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _validation_lines(source: str, exc: ValidationError) -> list[str]:
    """`file: nodes.menu.timeout_s: message`: the node type pydantic adds after the id is dropped."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in NODE_TYPES:
            del loc[2]
        lines.append(f"{source}: {format_loc(loc)}: {err['msg'].removeprefix('Value error, ')}")
    return lines


def parse_flow(name: str, text: str, source: str, sounds_dir: Path | None = SOUNDS_DIR) -> Flow:
    """Validate one flow; a ContentError lists every problem as `source: path: message`."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ContentError([f"{source}: {where}invalid YAML: {problem}"]) from None
    if not isinstance(data, dict):
        raise ContentError([f"{source}: (top level): a flow is a mapping with start and nodes"])
    data.pop("name", None)
    try:
        flow = Flow.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise ContentError(_validation_lines(source, exc)) from None
    errors = graph_errors(flow)
    if sounds_dir is not None:
        errors += sound_errors(flow, sounds_dir)
    if errors:
        raise ContentError([f"{source}: {e}" for e in errors])
    return flow


def load_flows(directory: Path = FLOWS_DIR, sounds_dir: Path | None = SOUNDS_DIR) -> dict[str, Flow]:
    """Every `*.yaml` flow of `directory` by name; all files' errors together in one ContentError."""
    flows: dict[str, Flow] = {}
    errors: list[str] = []
    if not directory.is_dir():
        raise ContentError([f"{directory}: no such flows directory"])
    for path in sorted(directory.glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(f"{path}: cannot read: {exc}")
            continue
        if not re.match(_ID, path.stem):
            errors.append(f"{path}: the file name must be a flow id (lower-case letters, digits, _ or -)")
            continue
        try:
            flows[path.stem] = parse_flow(path.stem, text, str(path), sounds_dir)
        except ContentError as exc:
            errors.extend(exc.errors)
    owner: dict[str, str] = {}
    for name, flow in flows.items():
        for i, did in enumerate(flow.dids):
            if did in owner:
                errors.append(
                    f"{directory / name}.yaml: dids[{i}]: DID {did} is already routed by {owner[did]}"
                )
            owner.setdefault(did, name)
    if errors:
        raise ContentError(errors)
    return flows


def flow_for_did(flows: Mapping[str, Flow], did: str, default: str | None = None) -> Flow | None:
    """The flow answering `did`: the one listing it, else the configured default flow, else none."""
    for flow in flows.values():
        if did in flow.dids:
            return flow
    return flows.get(default) if default else None
