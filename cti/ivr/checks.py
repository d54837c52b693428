"""A flow's checks beyond the schema: references, reachability, exits, cycles that never wait, and missing
sounds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cti.ivr.model import SOUNDS_DIR, Flow

# --- graph checks -------------------------------------------------------------------------------------


def graph_errors(flow: Flow) -> list[str]:
    """Dangling references, unreachable nodes, nodes that cannot reach an exit, loops without input."""
    errors: list[str] = []
    if flow.start not in flow.nodes:
        errors.append(f"start: unknown node {flow.start!r}")
    for nid, node in flow.nodes.items():
        for where, target in node.edges():
            if target not in flow.nodes:
                errors.append(f"nodes.{nid}.{where}: unknown node {target!r}")
    if errors:
        return errors
    succ = {nid: [t for _, t in node.edges()] for nid, node in flow.nodes.items()}

    seen: set[str] = set()
    stack = [flow.start]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(succ[n])
    for nid in flow.nodes:
        if nid not in seen:
            errors.append(f"nodes.{nid}: unreachable from start {flow.start!r}")

    # Nodes that can reach an exit: fixed point over predecessors.
    pred: dict[str, set[str]] = {nid: set() for nid in flow.nodes}
    for nid, targets in succ.items():
        for t in targets:
            pred[t].add(nid)
    can_exit = {nid for nid, node in flow.nodes.items() if node.is_exit}
    stack = list(can_exit)
    while stack:
        for p in pred[stack.pop()]:
            if p not in can_exit:
                can_exit.add(p)
                stack.append(p)
    for nid in flow.nodes:
        if nid in seen and nid not in can_exit:
            errors.append(
                f"nodes.{nid}: loop without an exit (no path leads to a queue, transfer, voicemail or hangup)"
            )

    # Cycles among nodes that never wait for the caller spin forever.
    passive = {nid for nid, node in flow.nodes.items() if not node.waits_for_caller and not node.is_exit}
    for cycle in _cycles(passive, succ):
        errors.append(f"nodes.{cycle[0]}: loop without caller input: {' → '.join([*cycle, cycle[0]])}")
    return errors


def _cycles(nodes: set[str], succ: Mapping[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component of `nodes` (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    st: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter([t for t in succ[root] if t in nodes]))]
        index[root] = low[root] = counter
        counter += 1
        st.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    st.append(w)
                    on.add(w)
                    work.append((w, iter([t for t in succ[w] if t in nodes])))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = st.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in succ[v]:
                    out.append(sorted(comp))
    return out


def sound_errors(flow: Flow, sounds_dir: Path = SOUNDS_DIR) -> list[str]:
    """Sounds that Asterisk would not find (checked only where Asterisk's sounds are installed)."""
    if not sounds_dir.is_dir():
        return []
    errors = []
    for nid, node in flow.nodes.items():
        for field, sounds in _node_sounds(node):
            for s in sounds:
                if not _sound_exists(sounds_dir, flow.language, s):
                    errors.append(
                        f"nodes.{nid}.{field}: sound {s!r} not found in {sounds_dir / flow.language}"
                    )
    return errors


def _node_sounds(node: Any) -> Iterator[tuple[str, list[str]]]:
    for field in ("sounds", "prompt", "confirm_prompt", "confirm_keys_prompt", "enter_prompt"):
        if hasattr(node, field):
            yield field, list(getattr(node, field))
    for field in ("invalid_sound", "timeout_sound"):
        if getattr(node, field, None):
            yield field, [getattr(node, field)]


def _sound_exists(root: Path, language: str, sound: str) -> bool:
    # Asterisk looks in sounds/<language>/ first, then falls back to sounds/en/ and sounds/.
    for base in (root / language, root / "en", root):
        folder = (base / sound).parent
        if folder.is_dir() and any(p.stem == Path(sound).name for p in folder.iterdir() if p.is_file()):
            return True
    return False
