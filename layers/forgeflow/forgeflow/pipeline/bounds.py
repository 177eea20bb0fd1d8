"""Bounds on what a run request may carry: the sidecar's size, YAML without aliases, nested sizes.

A 347-byte sidecar of nested YAML aliases ("billion laughs") expanded into a 146 MB request.json and a
395-byte one ran RegisterRun out of memory (issue #9, finding 10): aliases and anchors are refused while
parsing, before anything is expanded, and `overrides`/`mix`/`training` are bounded in depth and size.
"""

from __future__ import annotations

from typing import Any

import yaml

# A run's options are a few hundred bytes; 64 KiB leaves room for a long mix plan and stays far below
# RegisterRun's memory (512 MB) whatever the content.
MAX_SIDECAR_BYTES = 64 * 1024
# Nova recipes nest 3 levels (training_config.model.optim); a mix plan 3 (sources[i].uri).
MAX_DEPTH = 8
# Keys, items and scalars of one field, counted recursively; a mix plan of 64 sources is about 400.
MAX_NODES = 2000
MAX_STRING = 4096


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors and aliases: what is read is exactly what the bytes say."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML anchors and aliases (&{event.anchor}, *{event.anchor}) are not allowed in options",
                event.start_mark,
            )
        node: yaml.Node | None = super().compose_node(parent, index)
        return node


def load_yaml(data: bytes) -> Any:
    """One YAML document, without anchors or aliases; yaml.YAMLError when it is not valid."""
    return yaml.load(data, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass


def shape_problem(value: Any, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> str | None:
    """Why a nested JSON-like value is too large (depth, node count, a long string); None when it is not."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            return f"more than {max_nodes} keys and values"
        if isinstance(node, str) and len(node) > MAX_STRING:
            return f"a string of {len(node)} characters (at most {MAX_STRING})"
        children: list[Any] = []
        if isinstance(node, dict):
            children = [*node.keys(), *node.values()]
        elif isinstance(node, list):
            children = node
        if children and depth >= max_depth:
            return f"nested deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    return None
