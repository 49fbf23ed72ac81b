"""A failed start leaves the run directory reusable; a finished campaign says so and can be
extended with `sciloop resume RUN --rounds N / --budget N`; the console stays readable; the
run directory keeps one copy of the latest checkpoints; an oracle that breaks its contract
exits 4 (issue 19)."""

import io
import re

import yaml
from rich.console import Console

from sciloop.pipeline.campaign import Campaign, hide_worker_death_notices
from sciloop.pipeline.cli import main
from sciloop.pipeline.ledger import Ledger


def _write(tmp_path, config: dict) -> str:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _checkpoint_rounds(run_dir) -> set[int]:
    return {int(p.stem.rsplit("-", 1)[1]) for p in (run_dir / "checkpoints").glob("*-round-*.pt")}


def test_failed_starts_leave_the_run_directory_reusable_and_a_finished_campaign_extends(
        tiny, tmp_path, ray_session, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = tmp_path / "run"
    tiny.update(rounds=1, run_dir=str(run_dir))

    # 1. a typo in oracle.target, 2. more CPUs than the 2-CPU Ray has: refused, nothing written
    tiny["oracle"]["target"] = "my_orcle:score"
    assert main(["run", _write(tmp_path, tiny)]) == 2
    assert "cannot import 'my_orcle'" in capfd.readouterr().err
    tiny["oracle"].update(target="qed", num_cpus=64)
    assert main(["run", _write(tmp_path, tiny)]) == 2
    assert "oracle.num_cpus asks for 64" in capfd.readouterr().err
    assert not (run_dir / "config.yaml").exists() and not (run_dir / "ledger.sqlite").exists()

    # 3. the corrected config runs in the same run directory (on a terminal-like console)
    tiny["oracle"]["num_cpus"] = 0.5
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    Campaign.from_config(_write(tmp_path, tiny), console=console).run()
    shown = screen.getvalue()
    assert "round 1:" in shown and "campaign.py:" not in shown  # no caller's file:line
    assert "pretrain GFlowNet policy" in shown and "/?" not in shown
    for done, total in re.findall(r"(\d+)/(\d+)", shown):
        assert int(done) <= int(total), f"a progress bar shows {done}/{total}"
    out, err = capfd.readouterr()
    assert "Creating initial MLflow database tables" not in out + err
    assert "A worker died" not in out + err
    assert _checkpoint_rounds(run_dir) == {1}
    linked = list((run_dir / "artifacts").rglob("*.pt"))  # the final models, hard links: no bytes twice
    assert sorted(p.name for p in linked) == ["proposer-round-001.pt", "surrogate-round-001.pt"]
    assert all(p.stat().st_nlink == 2 for p in linked)

    # 4. resumed when finished: says so and how to extend it, pays nothing
    assert main(["resume", str(run_dir)]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "is finished: all 1 rounds after the initial screen are done" in out
    assert f"sciloop resume {run_dir} --rounds 2" in out
    assert Ledger.of_run_dir(run_dir).oracle_calls() == 24

    # 5. --rounds: one more round; the older round's checkpoints are deleted
    assert main(["resume", str(run_dir), "--rounds", "2"]) == 0
    capfd.readouterr()
    ledger = Ledger.of_run_dir(run_dir)
    assert ledger.oracle_calls() == 32 and [r["stage"] for r in ledger.rounds()] == ["done"] * 3
    assert _checkpoint_rounds(run_dir) == {2}

    # 6. --budget: the rounds are raised to reach it; then the spent budget is reported
    assert main(["resume", str(run_dir), "--budget", "40"]) == 0
    capfd.readouterr()
    assert Ledger.of_run_dir(run_dir).oracle_calls() == 40
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["rounds"] == 3
    assert main(["resume", str(run_dir)]) == 0
    out = " ".join(capfd.readouterr().out.split())
    assert "its budget of 40 oracle calls is spent" in out and "--budget 48" in out

    # where it runs may change on resume (a GPU campaign goes on on a CPU machine); nothing else
    assert main(["resume", str(run_dir), "proposer.device=cpu", "surrogate.device=cpu"]) == 0
    assert "budget of 40 oracle calls is spent" in " ".join(capfd.readouterr().out.split())
    # so may where it is logged (a laptop campaign moves to a shared server): logged afresh there
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    assert main(["resume", str(run_dir), f"tracking.uri={shared}"]) == 0  # finished: only remembered
    assert main(["sync", str(run_dir)]) == 0  # the rounds finished before the move
    capfd.readouterr()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(shared)
    runs = client.search_runs([client.get_experiment_by_name(tiny["tracking"]["experiment"]).experiment_id])
    assert sorted(r.info.run_name for r in runs) == [f"round-00{i}" for i in range(4)] + [tiny["name"]]
    assert main(["resume", str(run_dir), "proposer.steps=9"]) == 2
    assert "only budget and rounds, ray.*, tracking.* and *.device may change" in capfd.readouterr().err
    tiny.update(seed=8, rounds=3, budget=40)
    assert main(["run", _write(tmp_path, tiny)]) == 2
    assert "only budget and rounds, ray.*, tracking.* and *.device may change" in capfd.readouterr().err


def test_an_oracle_that_breaks_its_contract_exits_4(tiny, tmp_path, ray_session, capfd, monkeypatch):
    (tmp_path / "short_oracle.py").write_text("def score(xs):\n    return [1.0]\n")
    monkeypatch.chdir(tmp_path)
    tiny.update(rounds=1, run_dir=str(tmp_path / "run"))
    tiny["oracle"]["target"] = "short_oracle:score"
    assert main(["run", _write(tmp_path, tiny)]) == 4
    err = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error: ") and "short_oracle" in err[0]


def test_worker_death_notices_stay_off_the_console(capsys):
    from ray._private import worker

    hide_worker_death_notices()
    hide_worker_death_notices()  # idempotent
    worker.print_to_stdstream({"lines": ["A worker died or was killed while executing a task by an "
                                         "unexpected system error."], "pid": "raylet", "is_err": False},
                              ignore_prefix=False)
    assert "A worker died" not in capsys.readouterr().out
    worker.print_to_stdstream({"lines": ["Task was killed due to the node running low on memory."],
                               "pid": "raylet", "is_err": False}, ignore_prefix=False)
    assert "low on memory" in capsys.readouterr().out
