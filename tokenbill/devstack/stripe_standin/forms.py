"""Stripe's form encoding: `metadata[order]=1`, `expand[0]=latest_charge`, `a[b][c]=d`."""

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\]]*)\]")

FormValue = str | dict[str, Any] | list[Any]


def _path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    return [head, *_PART.findall("[" + rest)] if rest else [head]


def _listify(node: Any) -> Any:
    """Dicts whose keys are all indices ("0", "1", or "" from `a[]=`) become lists."""
    if not isinstance(node, dict):
        return node
    fixed = {k: _listify(v) for k, v in node.items()}
    if fixed and all(k.isdigit() or k.startswith("\x00") for k in fixed):
        return [fixed[k] for k in sorted(fixed, key=_index_order)]
    return fixed


def _index_order(key: str) -> int:
    return int(key[1:]) if key.startswith("\x00") else int(key)


def parse_form(body: str) -> dict[str, Any]:
    """The nested parameters of a form body (or query string); repeated `a[]` keys append."""
    result: dict[str, Any] = {}
    appended = 0
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = _path(key)
        node = result
        for i, part in enumerate(parts):
            if part == "":
                part = f"\x00{appended}"
                appended += 1
            if i == len(parts) - 1:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
    return {k: _listify(v) for k, v in result.items()}
