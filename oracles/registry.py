"""Which oracles are available: the built-in objectives and packaged plug-ins.

A package offers an oracle through the entry-point group `sciloop.oracles`:

    [project.entry-points."sciloop.oracles"]
    my_docking = "my_pkg.docking:DockingOracle"

The target may be an oracle class (instantiated with keyword arguments), an oracle object, or a
plain function `f(list[str]) -> list[float]`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from sciloop.oracles.base import FunctionOracle

ENTRY_POINT_GROUP = "sciloop.oracles"


@dataclass(frozen=True)
class OracleInfo:
    """One available oracle.

    Attributes:
        name: the name a config uses (`oracle.target`).
        source: "built-in" or "plug-in (<distribution>)".
        target: where it comes from (`module:attr`).
        summary: the first line of its docstring.
    """

    name: str
    source: str
    target: str
    summary: str = ""


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0] if doc else ""


def _description(oracle: Any) -> str:
    """An oracle's own `description`, else its class's first docstring line."""
    text = getattr(oracle, "description", None)
    return text if isinstance(text, str) and text else _summary(type(oracle))


def _builtins() -> dict[str, Any]:
    """Factories of the built-in oracles, by config name.

    The molecular objectives; `ehrlich` (sequences), `hypergrid`, `token_count` and
    `two_token_fractions` (synthetic), and `lab` (the file hand-off), which are classes
    built with the config's keyword arguments (`load_oracle("ehrlich", length=64, seed=1)`).
    """
    from sciloop.oracles.molecular import builtin_oracles

    return builtin_oracles() | _rdkit_free()


def _rdkit_free() -> dict[str, Any]:
    """The built-ins that need no rdkit (a sequence campaign loads only these)."""
    from sciloop.oracles.ehrlich import Ehrlich
    from sciloop.oracles.handoff import LabOracle
    from sciloop.oracles.synthetic import Hypergrid, TokenCount, TwoTokenFractions

    return {"ehrlich": Ehrlich, "hypergrid": Hypergrid, "token_count": TokenCount,
            "two_token_fractions": TwoTokenFractions, "lab": LabOracle}


def available_oracles() -> list[OracleInfo]:
    """Built-ins first (sorted), then plug-ins (sorted); a plug-in never shadows a built-in."""
    out = [OracleInfo(name, "built-in", f"sciloop.oracles:{name}", _description(factory()))
           for name, factory in sorted(_builtins().items())]
    taken = {o.name for o in out}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if ep.name in taken:
            continue
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        out.append(OracleInfo(ep.name, f"plug-in ({dist})", ep.value))
    return out


def as_oracle(obj: Any, name: str, **kwargs: Any) -> Any:
    """Turn a class, oracle object or plain function into an oracle.

    Raises:
        TypeError: `obj` is none of these.
    """
    if inspect.isclass(obj):
        obj = obj(**kwargs)
    if hasattr(obj, "score"):
        if not getattr(obj, "name", None):
            try:
                obj.name = name
            except AttributeError:
                pass
        return obj
    if callable(obj):
        return FunctionOracle(obj, name=name)
    raise TypeError(f"oracle {name!r}: {obj!r} is neither an oracle, an oracle class nor a function")


def load_oracle(name: str, **kwargs: Any) -> Any:
    """Build the oracle called `name`: a built-in objective or an entry-point plug-in.

    Raises:
        KeyError: no oracle of that name (the message lists what is available).
    """
    table = _rdkit_free()
    if name not in table:
        table = _builtins()
    if name in table:
        return table[name](**kwargs)
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        names = [o.name for o in available_oracles()]
        raise KeyError(f"no oracle named {name!r}; available: {names}")
    return as_oracle(matches[0].load(), name, **kwargs)
