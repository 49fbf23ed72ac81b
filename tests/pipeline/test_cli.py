import shutil
import signal
import socket
import subprocess
import sys
import time
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


def _start_ui(run_dir: Path, port: int) -> subprocess.Popen:
    exe = shutil.which("sciloop") or f"{sys.executable} -m sciloop.pipeline.cli"
    return subprocess.Popen([*exe.split(), "ui", str(run_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_url(proc: subprocess.Popen, url: str, deadline_s: float = 300) -> list[str]:
    """Read the wrapper's output until it prints the URL (it does once the server answers)."""
    seen, deadline = [], time.monotonic() + deadline_s  # >= 3x the quiet start-up
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if f"open {url}" in line:
            return seen
    raise AssertionError(f"no URL printed: {''.join(seen)[-2000:]}")


def test_ui_serves_the_run_directory_on_localhost(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tracker = Tracker(default_tracking_uri(run_dir), "ui-test", (run_dir / "artifacts").as_uri())
    tracker.start_campaign("ui", {"a": 1}, {}, "a: 1\n")
    port = _free_port()
    proc = _start_ui(run_dir, port)
    try:
        _wait_for_url(proc, f"http://127.0.0.1:{port}")
        # printed only once the server answers: no wait here
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
        api = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-test",
            timeout=10).read().decode()
        assert "ui-test" in api
        spawned = _children(proc.pid)
        server = [c for c in spawned.values() if "mlflow ui" in c]
        assert server and "--workers 1" in server[0], spawned
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # `ss` may be absent; when present, only loopback is bound
            assert all("127.0.0.1" in line for line in listening.splitlines())
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the server through the wrapper
        proc.communicate(timeout=180)  # a loaded machine shuts the server down slowly
    assert proc.returncode == 0
    assert not [pid for pid in spawned if Path(f"/proc/{pid}").exists()]  # nothing left behind
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
