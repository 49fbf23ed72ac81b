"""Resolve the oracle named in a config: a built-in objective or user code by import path."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

from sciloop.oracles.base import FunctionOracle, Oracle
from sciloop.oracles.molecular import builtin_oracles
from sciloop.pipeline.config import ConfigError, OracleConfig


def import_target(target: str) -> Any:
    """Import `module:attr` (the working directory is searched too, as a user expects)."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"oracle.target {target!r}: expected 'module:attr'")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"oracle.target {target!r}: cannot import {module_name!r} ({exc})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"oracle.target {target!r}: module {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


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

    Raises:
        ConfigError: unknown built-in name, import failure, or an object that is not an oracle.
    """
    if ":" not in cfg.target:
        table = builtin_oracles()
        if cfg.target not in table:
            raise ConfigError(f"oracle.target {cfg.target!r} is not a built-in objective; "
                              f"use one of {sorted(table)} or 'module:attr'")
        oracle: Any = table[cfg.target]()
        module = None
    else:
        obj = import_target(cfg.target)
        if inspect.isclass(obj):
            obj = obj(**cfg.kwargs)
        if hasattr(obj, "score"):
            oracle = obj
            for attr, default in (("name", cfg.target), ("num_cpus", 1.0), ("num_gpus", 0.0),
                                  ("timeout_s", None), ("batch_size", 16), ("idempotent", False)):
                if not hasattr(oracle, attr):
                    setattr(oracle, attr, default)
        elif callable(obj):
            oracle = FunctionOracle(obj, name=cfg.target)
        else:
            raise ConfigError(f"oracle.target {cfg.target!r} is neither a function nor an oracle")
        module = local_module(cfg.target)
    for attr in ("num_cpus", "num_gpus", "timeout_s", "batch_size"):
        value = getattr(cfg, attr)
        if value is not None:
            setattr(oracle, attr, value)
    return oracle, module
