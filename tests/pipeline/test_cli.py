import shutil
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


def test_ui_serves_the_run_directory_on_localhost(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tracker = Tracker(default_tracking_uri(run_dir), "ui-test", (run_dir / "artifacts").as_uri())
    tracker.start_campaign("ui", {"a": 1}, {}, "a: 1\n")
    port = _free_port()
    exe = shutil.which("sciloop") or f"{sys.executable} -m sciloop.pipeline.cli"
    proc = subprocess.Popen([*exe.split(), "ui", str(run_dir), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, body = time.monotonic() + 90, None
        while time.monotonic() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read()
            except OSError:
                time.sleep(1)
        assert body is not None, "the MLflow UI did not answer"
        api = urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui-test",
            timeout=5).read().decode()
        assert "ui-test" in api
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        if listening:  # `ss` may be absent; when present, only loopback is bound
            assert all("127.0.0.1" in line for line in listening.splitlines())
    finally:
        proc.terminate()
        out = proc.communicate(timeout=180)[0]  # a loaded machine shuts the server down slowly
    assert f"http://127.0.0.1:{port}" in out


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
