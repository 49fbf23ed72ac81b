"""Start or join the Ray that a campaign runs on; a local run gets a private, loopback-only Ray.

Which Ray (`resolve_address`): an explicit `ray.address`, else the `RAY_ADDRESS` that a Ray Job
exports, else `"local"`: a new Ray of this process only. Ray's own default (`address=None`)
would attach to any cluster that `ray start` left on the host, another user's included.

What a local Ray exposes: every server it starts (GCS, raylet's node and object managers,
workers' gRPC servers, dashboard agent, runtime-env agent, metrics exporters) binds to
127.0.0.1, and Ray's token authentication stays on (Ray 2.60 turns it on for a local
`ray.init()` when `RAY_AUTH_MODE` is unset; nothing here sets it). Checked with `ss -ltnp` and
psutil in tests/pipeline/test_ray_runtime.py.

What a local Ray leaves when its driver dies: Ray starts GCS and raylet to die with the driver
(PR_SET_PDEATHSIG), but the raylet's DashboardAgent and RuntimeEnvAgent notice only when their
health checks time out, a minute or more later, and Ray has no switch for this. So `start_ray`
also starts a watchdog (`watch_session`, a small stdlib-only process) that waits for the driver
to exit, by any means, SIGKILL included, and then kills what is left of that Ray session: the
processes that hold a file of its session directory open for writing (each Ray process writes
its logs there; the directory's name is unique to the session), never any other Ray on the host.
"""

from __future__ import annotations

import ipaddress
import os
import select
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from types import ModuleType

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

    from sciloop.pipeline.plugins import module_path

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
    if local:
        # private: the only handle on the session directory; checked by the tests on every Ray pin
        _start_watchdog(ray._private.worker.global_worker.node.get_session_dir_path())
    return True


# -- the watchdog: a local Ray dies with its driver ------------------------------------------

#: The write end of the pipe to the current watchdog (this process's local Ray), or None.
_watchdog_pipe: int | None = None


def _start_watchdog(session_dir: str) -> None:
    """Start `watch_session` for this driver and its Ray session (Linux: it reads /proc).

    The watchdog gets the read end of a pipe whose write end only this process holds: a next
    `start_ray` closes it (the previous session was shut down; its leftovers are killed), and
    the kernel closes it when this process dies. The watchdog runs in its own session, so a
    Ctrl-C to the terminal reaches the driver, whose clean exit it then follows.
    """
    global _watchdog_pipe
    if not sys.platform.startswith("linux"):
        return
    if _watchdog_pipe is not None:
        os.close(_watchdog_pipe)
    read_end, _watchdog_pipe = os.pipe()
    try:
        subprocess.Popen([sys.executable, "-m", __name__, str(os.getpid()), os.path.realpath(session_dir),
                          str(read_end)], pass_fds=(read_end,), start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        os.close(read_end)


def watch_session(driver_pid: int, session_dir: str, pipe_fd: int | None = None) -> int:
    """Wait until the driver exits (or closes the pipe), then kill its Ray session's processes.

    Args:
        driver_pid: the process that started the local Ray; must be this process's parent
            (so that its pid cannot have been reused).
        session_dir: Ray's session directory (`.../ray/session_<time>_<pid>`), resolved.
        pipe_fd: the read end of the driver's pipe: end of file means the driver is gone or
            is done with this session.

    Returns:
        How many processes were killed.

    Raises:
        ValueError: `session_dir` is not an absolute path to a `session_*` folder.
    """
    if not (os.path.isabs(session_dir) and os.path.basename(session_dir).startswith("session_")):
        raise ValueError(f"not a Ray session directory: {session_dir!r}")
    waits = []
    if pipe_fd is not None:
        waits.append(pipe_fd)
    if os.getppid() == driver_pid:
        with suppress(OSError, AttributeError):  # no pidfd before Linux 5.3
            waits.append(os.pidfd_open(driver_pid))
    if os.getppid() == driver_pid and waits:
        poller = select.poll()
        for fd in waits:
            poller.register(fd, select.POLLIN | select.POLLHUP)
        while True:
            with suppress(InterruptedError):
                poller.poll()
                break
    killed: set[int] = set()
    for _ in range(50):  # the raylet may start a worker while its siblings are being killed
        found = session_processes(session_dir) - killed - {driver_pid}  # a driver that lives on (it
        if not found:  # started another Ray) still holds the old session's logs: it is never killed
            break
        for pid in found:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= found
        time.sleep(0.2)
    return len(killed)


def session_processes(session_dir: str) -> set[int]:
    """Pids of the processes (this user's, not this one) that hold a file under `session_dir`
    open for writing: GCS, raylet, agents, monitors and workers all write their logs there; a
    reader (`tail -f` of a log) does not count."""
    prefix = os.path.join(session_dir, "")
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        with suppress(OSError):  # gone, or another user's
            for fd in os.listdir(f"/proc/{name}/fd"):
                with suppress(OSError):
                    if not os.readlink(f"/proc/{name}/fd/{fd}").startswith(prefix):
                        continue
                    with open(f"/proc/{name}/fdinfo/{fd}") as info:
                        flags = next(int(line.split()[1], 8) for line in info if line.startswith("flags:"))
                    if flags & (os.O_WRONLY | os.O_RDWR):
                        found.add(int(name))
                        break
    return found


if __name__ == "__main__":  # the watchdog: python -m sciloop.pipeline.ray_runtime PID SESSION_DIR FD
    watch_session(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
