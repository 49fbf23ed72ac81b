"""Start or join the Ray that a campaign runs on; a local run gets a private, loopback-only Ray.

Which Ray (`resolve_address`): an explicit `ray.address`, else the `RAY_ADDRESS` that a Ray Job
exports, else `"local"`: a new Ray of this process only. Ray's own default (`address=None`)
would attach to any cluster that `ray start` left on the host, another user's included.

What a local Ray exposes: every server it starts (GCS, raylet's node and object managers,
workers' gRPC servers, dashboard agent, runtime-env agent, metrics exporters) binds to
127.0.0.1, and Ray's token authentication stays on (Ray 2.60 turns it on for a local
`ray.init()` when `RAY_AUTH_MODE` is unset; nothing here sets it). Checked with `ss -ltnp` and
psutil in tests/pipeline/test_ray_runtime.py.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from types import ModuleType

from sciloop.pipeline.plugins import module_path

LOCAL = "local"
LOOPBACK = "127.0.0.1"
# Ray binds its servers to all interfaces unless the node's IP is the loopback address, and
# `ray.init(_node_ip_address="127.0.0.1")` is resolved back to the host's IP on Linux. Ray's
# single-node mode for macOS and Windows (this variable, read into a constant when `ray` is
# imported) keeps the node on 127.0.0.1 and so binds every server there.
_SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def resolve_address(address: str | None) -> str:
    """The Ray to use: `address`, else `RAY_ADDRESS` (set inside a Ray Job), else `"local"`."""
    return address or os.environ.get("RAY_ADDRESS") or LOCAL


def is_loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or an IPv4-mapped loopback (`::ffff:127.0.0.1`)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


@contextmanager
def _single_node() -> Iterator[None]:
    """While a local Ray starts: its node IP is 127.0.0.1, so every Ray server binds there.

    Sets the variable for the processes `ray.init` spawns (GCS, raylet, agents; workers inherit
    the raylet's environment) and Ray's already-imported constant for this driver; both are
    restored afterwards, so a later `ray.init(address=...)` to a real cluster is unaffected.
    """
    from ray._private import ray_constants  # private: checked by the tests on every Ray pin

    old_env = os.environ.get(_SINGLE_NODE_ENV)
    old_const = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    os.environ[_SINGLE_NODE_ENV] = "0"
    if old_const is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop(_SINGLE_NODE_ENV, None)
        else:
            os.environ[_SINGLE_NODE_ENV] = old_env
        if old_const is not None:
            ray_constants.ENABLE_RAY_CLUSTER = old_const


def start_ray(address: str | None, num_cpus: int | None, user_module: ModuleType | None, *,
              object_store_memory: int | None = None) -> bool:
    """Connect this process to Ray; start a private local Ray unless told where one is.

    Args:
        address: `ray.address` of the config. None: `RAY_ADDRESS` if set (a Ray Job), else a new
            local Ray bound to 127.0.0.1 with Ray's token auth. `"local"` forces a new one; any
            other value (`"auto"`, `host:port`, `ray://...`) joins that cluster.
        num_cpus: CPUs of a local Ray (None: all); ignored when joining a cluster.
        user_module: the user's oracle module, which workers must import: shipped in the job's
            `runtime_env` (`py_modules`), or pickled by value if Ray is already running.
        object_store_memory: bytes of a local Ray's object store (None: Ray's default).

    Returns:
        True when this call started or joined Ray (the caller shuts it down), False when Ray was
        already initialised by someone else (a notebook, a test session).
    """
    import ray

    if ray.is_initialized():
        # A Ray someone else started cannot take a job-level runtime_env any more: ship the
        # user's oracle module by value instead.
        if user_module is not None:
            ray.cloudpickle.register_pickle_by_value(user_module)
        return False
    target = resolve_address(address)
    local = target == LOCAL
    with _single_node() if local else nullcontext():
        ray.init(address=target,
                 num_cpus=num_cpus if local else None,
                 object_store_memory=object_store_memory if local else None,
                 runtime_env={"py_modules": [module_path(user_module)]} if user_module is not None else None,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    if local and not is_loopback(ray.util.get_node_ip_address()):
        warnings.warn(f"the local Ray's node IP is {ray.util.get_node_ip_address()}, not {LOOPBACK}: "
                      "its servers may listen on every interface", RuntimeWarning, stacklevel=2)
    return True
