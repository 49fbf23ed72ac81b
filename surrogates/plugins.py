"""Names at the package's plug points: a registered name or a `module:Class` import path.

Shared by the acquisition registry (`acquisition.ACQUISITIONS`) and the surrogate kinds
(`members.MEMBERS`); light to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any


def check_name(name: str, known: Iterable[str], what: str) -> str:
    """`name` if it is in `known` or a `module:Class` path, else a ValueError listing `known`.

    Args:
        what: the plug point, for the message (e.g. "acquisition").
    """
    known = list(known)
    if name in known or (":" in name and all(name.partition(":")[::2])):
        return name
    raise ValueError(f"unknown {what} {name!r}: choose from {', '.join(known)} or give 'module:Class'")


def import_class(path: str, what: str) -> Any:
    """The attribute a `module:Class` path names (ValueError when it cannot be imported)."""
    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{what} {path!r}: cannot import it ({exc})") from None
