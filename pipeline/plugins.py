"""Resolve the oracle named in a config: a built-in objective or user code by import path."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

from sciloop.oracles.base import DEFAULT_TIMEOUT_S, Oracle
from sciloop.oracles.registry import as_oracle, load_oracle
from sciloop.pipeline.config import ConfigError, OracleConfig


def import_target(target: str) -> Any:
    """Import `module:attr`, searching the working directory too, as a user expects.

    The working directory is on `sys.path` only while the target's module is imported, so a
    file planted there (a `json.py`, say) cannot shadow a library imported later. The user's
    module stays importable afterwards through `sys.modules`.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"oracle.target {target!r}: expected 'module:attr'")
    try:
        module = _import_with_cwd(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name != exc.name and not module_name.startswith(exc.name + "."):
            # the module was found; something it imports was not
            raise ConfigError(f"oracle.target {target!r}: importing {module_name!r} failed: "
                              f"{exc} (install it where sciloop runs)") from None
        raise ConfigError(
            f"oracle.target {target!r}: cannot import {module_name!r}: no such module in the working "
            f"directory ({os.getcwd()}) nor on the Python path. Run sciloop from the folder that "
            f"holds {module_name.split('.')[0]}.py, add that folder to PYTHONPATH, or pip install "
            f"the package") from None
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else "its source"
        raise ConfigError(f"oracle.target {target!r}: {module_name!r} has a syntax error "
                          f"({where}: {exc.msg})") from None
    except Exception as exc:  # noqa: BLE001 - whatever the user's module raises on import
        raise ConfigError(f"oracle.target {target!r}: importing {module_name!r} raised "
                          f"{type(exc).__name__}: {exc}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"oracle.target {target!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def _import_with_cwd(module_name: str) -> ModuleType:
    """Import `module_name` with the working directory first on `sys.path`, then take it off."""
    cwd = os.getcwd()
    if cwd in sys.path:
        return importlib.import_module(module_name)
    sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(cwd)


def local_module(target: str) -> ModuleType | None:
    """The top-level module of an import target when it is the user's code, not an installed package.

    Installed packages are on every Ray worker already; a module from the user's working
    directory is not, unless the job ships it (TRAPS.md).
    """
    if ":" not in target:
        return None
    top = sys.modules[target.partition(":")[0].split(".")[0]]
    path = Path(top.__path__[0]) if hasattr(top, "__path__") else Path(top.__file__ or "")
    installed = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    if not path.exists() or any(str(path).startswith(p) for p in installed):
        return None
    return top


def module_path(module: ModuleType) -> str:
    """The file or package folder to put in a Ray runtime_env's `py_modules`."""
    return str(Path(module.__path__[0]) if hasattr(module, "__path__") else Path(module.__file__ or ""))


def resolve_oracle(cfg: OracleConfig) -> tuple[Oracle, ModuleType | None]:
    """Build the oracle object of a config; also return the user module that workers need.

    An oracle that declares no `timeout_s` gets `DEFAULT_TIMEOUT_S` (one hour); an
    asynchronous one (a lab hand-off, never called by the runner) keeps none.

    Raises:
        ConfigError: an unknown name, an import failure, an object that is not an oracle, or
            `oracle.weights` of another length than the oracle's declared `num_objectives`.
    """
    if ":" not in cfg.target:  # a built-in objective or an installed plug-in
        try:
            oracle: Any = load_oracle(cfg.target, **cfg.kwargs)
        except KeyError as exc:
            raise ConfigError(f"oracle.target: {exc.args[0]}; or give 'module:attr'") from None
        except TypeError as exc:  # a keyword the built-in does not take (`oracle.kwargs.lenght=32`)
            raise ConfigError(f"oracle.kwargs of {cfg.target!r}: {exc}") from None
        module = None
    else:
        try:
            oracle = as_oracle(import_target(cfg.target), cfg.target, **cfg.kwargs)
        except TypeError as exc:
            raise ConfigError(f"oracle.target {cfg.target!r}: {exc}") from None
        module = local_module(cfg.target)
    for attr, default in (("name", cfg.target), ("num_cpus", 1.0), ("num_gpus", 0.0),
                          ("timeout_s", None), ("batch_size", 16), ("idempotent", False)):
        if not hasattr(oracle, attr):
            setattr(oracle, attr, default)
    if oracle.timeout_s is None and not getattr(oracle, "asynchronous", False):
        oracle.timeout_s = DEFAULT_TIMEOUT_S  # a hung oracle must not hang the campaign
    for attr in ("num_cpus", "num_gpus", "timeout_s", "batch_size", "idempotent", "num_workers"):
        value = getattr(cfg, attr)
        if value is not None:
            setattr(oracle, attr, value)
    if cfg.resources:
        oracle.resources = dict(cfg.resources)
    width = getattr(oracle, "num_objectives", None)
    if cfg.weights is not None and width is not None and len(cfg.weights) != width:
        raise ConfigError(f"oracle.weights has {len(cfg.weights)} entries but {cfg.target!r} scores "
                          f"{width} objective{'s' if width != 1 else ''}: give {width} weights or drop them")
    return oracle, module
