"""`start_ray`: a local campaign gets a private Ray, bound to loopback, with Ray's token auth.

Each check runs in a fresh Python process with its own HOME (Ray writes its token to
~/.ray/auth_token) and its own RAY_TMPDIR (Ray's sessions and its `ray_current_cluster` file),
so it neither sees nor touches the test session's Ray or anyone else's on this host.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sciloop.pipeline.ray_runtime import LOCAL, is_loopback, resolve_address

BIN = Path(sys.executable).parent

# Ray components that could not be bound to loopback, with the reason. Empty on Ray 2.60: GCS,
# raylet (node manager, object manager), workers, dashboard agent (HTTP, gRPC, metrics),
# runtime-env agent, autoscaler monitor and dashboard metrics all follow the node IP 127.0.0.1.
NOT_BINDABLE: dict[str, str] = {}


@pytest.fixture
def ray_home() -> Iterator[dict[str, str]]:
    """An environment for a child Python: private HOME and RAY_TMPDIR, no RAY_AUTH_MODE /
    RAY_ADDRESS from CI or the conftest. Afterwards, every process still running from that
    RAY_TMPDIR is killed (by pid)."""
    temp = tempfile.mkdtemp(prefix="rr", dir="/tmp")  # Ray's socket paths must stay short
    (Path(temp) / "home").mkdir()
    (Path(temp) / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAY_AUTH", "RAY_ADDRESS", "RAY_TMPDIR"))}
    env.update(HOME=f"{temp}/home", RAY_TMPDIR=f"{temp}/tmp", RAY_USAGE_STATS_ENABLED="0",
               PYTHONUNBUFFERED="1")
    try:
        yield env
    finally:
        _kill_leftovers(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _kill_leftovers(marker: str) -> None:
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(marker in arg for arg in proc.info["cmdline"] or []):
                proc.kill()


def _run(code: str, env: dict[str, str], timeout: float = 240) -> dict:
    """Run `code` in a child Python (own process group); return the JSON of its last line."""
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout} s:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_address_resolution(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert resolve_address(None) == LOCAL  # never Ray's "attach to whatever runs on this host"
    assert resolve_address("10.0.0.1:6379") == "10.0.0.1:6379"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.2:6379")  # inside a Ray Job
    assert resolve_address(None) == "10.0.0.2:6379"
    assert resolve_address("auto") == "auto"  # explicit wins
    assert all(map(is_loopback, ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.1.1"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.2", "::ffff:10.0.0.1"]))


LISTENERS = """
    import json, os, socket, time
    import grpc, psutil, ray
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    from sciloop.pipeline.ray_runtime import start_ray

    owns = start_ray(None, 1, None)

    @ray.remote
    def pid():
        return os.getpid()

    ray.get(pid.remote())  # a worker with its own gRPC server
    time.sleep(2)  # the agents open their metrics ports last
    listening = []
    me = psutil.Process()
    for proc in [me, *me.children(recursive=True)]:  # GCS, raylet, agents, workers
        try:
            name, conns = proc.name(), proc.net_connections("inet")
        except psutil.Error:
            continue
        for c in conns:  # TCP listeners and bound UDP sockets
            if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr):
                listening.append([name, c.laddr.ip, c.laddr.port])

    def gcs_call(token):
        metadata = [("authorization", f"Bearer {token}")] if token else None
        with grpc.insecure_channel(ray.get_runtime_context().gcs_address) as channel:
            stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
            try:
                stub.GetAllNodeInfo(gcs_service_pb2.GetAllNodeInfoRequest(), timeout=30,
                                    metadata=metadata)
                return "OK"
            except grpc.RpcError as err:
                return err.code().name

    token_file = os.path.expanduser("~/.ray/auth_token")
    token = open(token_file).read().strip() if os.path.exists(token_file) else ""
    print(json.dumps({"owns": owns, "listening": listening, "mode": os.environ.get("RAY_AUTH_MODE"),
                      "no_token": gcs_call(None), "wrong_token": gcs_call("not-the-token"),
                      "token": gcs_call(token)}))
    ray.shutdown()
"""


def test_local_ray_listens_on_loopback_only_and_keeps_token_auth(ray_home):
    out = _run(LISTENERS, ray_home)
    assert out["owns"] is True
    names = {name for name, _, _ in out["listening"]}
    assert {"gcs_server", "raylet"} <= names, out["listening"]  # the check saw Ray's servers
    exposed = [row for row in out["listening"] if not is_loopback(row[1]) and row[0] not in NOT_BINDABLE]
    assert exposed == [], f"Ray listens beyond loopback: {exposed}"
    # token auth on: the GCS refuses a caller without Ray's token
    assert out["mode"] == "token"
    assert out["no_token"] == out["wrong_token"] == "UNAUTHENTICATED"
    assert out["token"] == "OK"


PRIVATE = """
    import json, ray
    from sciloop.pipeline.ray_runtime import start_ray

    owns = start_ray(None, 2, None)
    print(json.dumps({"owns": owns, "cpus": ray.cluster_resources().get("CPU"),
                      "gcs": ray.get_runtime_context().gcs_address}))
    ray.shutdown()
"""


@pytest.mark.skipif(not (BIN / "ray").exists(), reason="the ray CLI is not installed")
def test_null_address_starts_a_private_ray_beside_a_ray_start_cluster(ray_home):
    """Another user's `ray start --head` on this host (1 CPU): `ray.address: null` with
    `ray.num_cpus: 2` neither joins it nor crashes (Ray's ValueError for num_cpus)."""
    port = _free_port()
    ports = {flag: _free_port() for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                              "metrics-export-port", "runtime-env-agent-port")}
    env = {**ray_home, "RAY_AUTH_MODE": "disabled"}  # as a cluster set up by hand often is
    foreign = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=1",
         "--include-dashboard=false", "--disable-usage-stats", "--object-store-memory=100000000",
         *(f"--{flag}={p}" for flag, p in ports.items())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        marker = Path(ray_home["RAY_TMPDIR"]) / "ray" / "ray_current_cluster"
        deadline = time.monotonic() + 120
        while not marker.exists():  # what `ray.init(address=None)` would attach to
            assert foreign.poll() is None, "ray start --head failed"
            assert time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.5)
        out = _run(PRIVATE, env)
        assert out["owns"] is True
        assert out["cpus"] == 2.0  # its own Ray, not the foreign 1-CPU one
        assert not out["gcs"].endswith(f":{port}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(foreign.pid, signal.SIGKILL)  # only this cluster's process group
        foreign.wait(timeout=30)


# -- a local Ray dies with its driver, even a SIGKILLed one ---------------------------------

DRIVER = """
    import json, os, time, ray
    from sciloop.pipeline.ray_runtime import start_ray

    start_ray(None, 2, None)

    @ray.remote
    def pid():
        return os.getpid()

    workers = ray.get([pid.remote() for _ in range(2)])
    session = ray._private.worker.global_worker.node.get_session_dir_path()
    print(json.dumps({"session": session, "workers": workers}), flush=True)
    time.sleep(600)
"""


def _alive(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{p.pid} {p.name()}")
    return out


def test_a_killed_driver_takes_its_local_ray_along(ray_home):
    """kill -9 of the driver: Ray's DashboardAgent and RuntimeEnvAgent would live on for a minute
    or more (until their health checks give up); the watchdog of `start_ray` kills them, and
    every other process of that Ray session, within seconds. Without it this test fails."""
    driver = subprocess.Popen([sys.executable, "-c", textwrap.dedent(DRIVER)], env=ray_home, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ready, _, _ = select.select([driver.stdout], [], [], 240)
        assert ready, "the driver did not start Ray in 240 s"
        out = json.loads(driver.stdout.readline())
        time.sleep(2)  # the agents are up by now; give them a moment anyway
        name = Path(out["session"]).name  # unique to this Ray session
        ours = {p.pid: p for p in psutil.Process(driver.pid).children(recursive=True)}  # incl. the watchdog
        for p in psutil.process_iter(["cmdline"]):
            with contextlib.suppress(psutil.Error):
                if any(name in arg for arg in p.info["cmdline"] or []):
                    ours.setdefault(p.pid, p)
        names = {p.name() for p in ours.values()}
        assert {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, names
        assert set(out["workers"]) <= set(ours)
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 30  # Ray's own agents take 60 s or more, longer under load
    while _alive(list(ours.values())) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _alive(list(ours.values())) == [], "Ray processes outlived their driver"


WRITER = "import sys, time\nf = open(sys.argv[1], sys.argv[2])\nprint('open', flush=True)\ntime.sleep(600)"


def test_the_watchdog_kills_writers_of_the_session_only(tmp_path):
    """What counts as the session's process: one writing a file of its session directory; a
    reader of its logs (`tail -f`) and a writer of another session are left alone."""
    from sciloop.pipeline.ray_runtime import session_processes, watch_session

    mine, other = tmp_path / "session_2026_1", tmp_path / "session_2026_10"  # a name prefix of the other
    for folder in (mine, other):
        (folder / "logs").mkdir(parents=True)
        (folder / "logs" / "raylet.out").write_text("")
    procs = {label: subprocess.Popen([sys.executable, "-c", WRITER, str(folder / "logs" / "raylet.out"), mode],
                                     stdout=subprocess.PIPE, text=True)
             for label, folder, mode in [("writer", mine, "a"), ("reader", mine, "r"), ("other", other, "a")]}
    try:
        for p in procs.values():
            assert p.stdout.readline().strip() == "open"
        assert session_processes(str(mine)) == {procs["writer"].pid}
        read_end, write_end = os.pipe()
        os.close(write_end)  # the driver is done with the session: clean up at once
        assert watch_session(os.getpid(), str(mine), read_end) == 1
        assert procs["writer"].wait(timeout=30) == -signal.SIGKILL
        assert procs["reader"].poll() is None and procs["other"].poll() is None
        with pytest.raises(ValueError, match="not a Ray session directory"):
            watch_session(os.getpid(), "/")
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


def test_a_driver_that_starts_ray_again_survives_its_first_watchdog():
    """A process that runs campaigns one after another (the benchmark harness, a notebook)
    shuts its Ray down and starts another: the first session's watchdog then kills that
    session's leftovers, never the driver, which still holds the first session's log files."""
    code = ("import time, ray\nfrom sciloop.pipeline.ray_runtime import start_ray\n"
            "start_ray(None, 1, None)\nray.shutdown()\nstart_ray(None, 1, None)\n"
            "time.sleep(5)\nprint('alive', flush=True)\nray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_ADDRESS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "alive" in out.stdout, (out.returncode, out.stderr[-2000:])
