"""Fault injection with real processes and real signals: SIGKILL a campaign, resume, finish.

The campaign runs as `sciloop run` in a subprocess (its own process group, so the kill takes
its Ray workers down too, as a crashed machine would). The oracle is a non-idempotent user
function that appends every design it is paid for to a side file *before* scoring it. After
the resume: every paid call is in the ledger exactly once (with its value, or `unknown` if it
was in flight at the kill), no design was paid twice, and rounds finished before the kill are
unchanged. The resume is `sciloop resume` in the test process, on the session's Ray.

A stage kill point is hit exactly, never polled for: the killed process installs a hook on the
ledger that SIGKILLs its own process group the moment round 1's stage is committed (what a poll
of the ledger from outside would see first), so no run slips past a short stage and none is run
twice. The campaign is the smallest that has every kill point: an initial screen and two rounds.
"""

import collections
import os
import signal
import subprocess
import sys

import pytest
import yaml
from rdkit import Chem

from sciloop.pipeline.cli import main
from sciloop.pipeline.ledger import Ledger

ORACLE = """
import os, signal, time

SIDE = {side!r}
KILL = {kill!r}


def score(smiles):
    with open(SIDE, "a") as fh:  # the bill: written before the work
        fh.writelines(s + "\\n" for s in smiles)
        fh.flush()
        os.fsync(fh.fileno())
    if os.path.exists(KILL):
        pgid, at = map(int, open(KILL).read().split())
        if sum(1 for _ in open(SIDE)) >= at:
            os.remove(KILL)
            os.killpg(pgid, signal.SIGKILL)
            time.sleep(30)
    time.sleep(0.1)
    return [float(s.count("C")) + 0.5 * s.count("N") for s in smiles]
"""

CONFIG = {
    "name": "crash", "seed": 3, "rounds": 2, "batch_size": 6, "run_dir": "run",
    "initial": {"size": 12},
    "oracle": {"target": "crash_oracle:score", "batch_size": 2, "num_cpus": 0.5},
    "surrogate": {"members": 2, "hidden": 16, "epochs": 2},
    "proposer": {"steps": 2, "batch_size": 8, "hidden": 16, "max_len": 20,
                 "pretrain_steps": 1, "num_actors": 0, "pool_factor": 3},
    "ray": {"num_cpus": 2},
}
CLI = [sys.executable, "-c", "import sys; from sciloop.pipeline.cli import main; sys.exit(main())"]
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH="")

#: `sciloop` that SIGKILLs its process group (itself, its Ray, the oracle's workers) right after
#: the ledger commits round 1's stage `argv[1]`: `started` (`start_round`), `surrogate`,
#: `trained`, `selected` (`set_stage`) or `done` (`finish_round`).
KILLING_CLI = [sys.executable, "-c", """
import os, signal, sys
from sciloop.pipeline.cli import main
from sciloop.pipeline.ledger import Ledger

STAGE = sys.argv.pop(1)


def kill_after(method, stage_of):
    def committed(self, round_, *args, **kwargs):
        method(self, round_, *args, **kwargs)
        if round_ == 1 and stage_of(*args, **kwargs) == STAGE:
            os.killpg(os.getpgrp(), signal.SIGKILL)
    return committed


Ledger.start_round = kill_after(Ledger.start_round, lambda stage="started": stage)
Ledger.set_stage = kill_after(Ledger.set_stage, lambda stage, mlflow_run_id=None, metrics=None: stage)
Ledger.finish_round = kill_after(Ledger.finish_round, lambda metrics: "done")
sys.exit(main())
"""]


@pytest.mark.parametrize("kill_at", ["oracle-call-15", "round1-started", "round1-surrogate",
                                     "round1-trained", "round1-selected", "round1-done"])
def test_sigkill_then_resume(ray_session, tmp_path, monkeypatch, kill_at, crash_report):
    side, kill = tmp_path / "calls.txt", tmp_path / "kill.txt"
    (tmp_path / "crash_oracle.py").write_text(ORACLE.format(side=str(side), kill=str(kill)))
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(CONFIG))
    db = tmp_path / "run" / "ledger.sqlite"

    if kill_at.startswith("oracle-call-"):  # the oracle itself pulls the plug mid-batch
        proc = subprocess.Popen([*CLI, "run", "campaign.yaml"], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        kill.write_text(f"{proc.pid} {kill_at.rsplit('-', 1)[1]}")
    else:  # the campaign pulls it as round 1's stage is committed
        proc = subprocess.Popen([*KILLING_CLI, kill_at.split("-")[1], "run", "campaign.yaml"], cwd=tmp_path,
                                env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == -signal.SIGKILL, out[-3000:]
    before = Ledger(db)
    round0 = before.batch(0)
    paid_before = side.read_text().splitlines()

    # `sciloop resume run`, in this process on the session's Ray: the killed run's process group
    # is gone, so nothing of it is shared but the run directory
    monkeypatch.chdir(tmp_path)
    sys.modules.pop("crash_oracle", None)  # each case writes its own module
    try:
        assert main(["resume", "run"]) == 0
    finally:
        sys.modules.pop("crash_oracle", None)

    ledger = Ledger(db)
    assert [r["stage"] for r in ledger.rounds()] == ["done"] * 3
    paid = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in side.read_text().splitlines()]
    duplicates = sum(n - 1 for n in collections.Counter(paid).values())
    labels = {l.key: l.value for l in ledger.labels()}
    unknown = {r.key for r in ledger.unknown()}
    lost = [k for k in paid if k not in labels and k not in unknown]
    crash_report((kill_at, len(lost), duplicates, len(unknown), len(paid)))
    assert duplicates == 0 and lost == []
    assert not set(labels) & unknown
    for key, value in labels.items():  # each label is the oracle's value for that design
        assert value == pytest.approx(key.count("C") + 0.5 * key.count("N"))
    # dispatched but killed before the oracle ran: unknown, counted as spent, never re-sent
    assert ledger.oracle_calls() == len(paid) + len(unknown - set(paid))
    assert ledger.batch(0) == round0  # finished before the kill: unchanged
    assert paid[:len(paid_before)] == [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in paid_before]
    assert ledger.in_flight() == []
