"""Fault injection with real processes and real signals: SIGKILL a campaign, resume, finish.

The campaign runs as `sciloop run` in a subprocess (its own process group, so the kill takes
its Ray workers down too, as a crashed machine would). The oracle is a non-idempotent user
function that appends every design it is paid for to a side file *before* scoring it. After
the resume: every paid call is in the ledger exactly once (with its value, or `unknown` if it
was in flight at the kill), no design was paid twice, and rounds finished before the kill are
unchanged.
"""

import collections
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rdkit import Chem

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
    "surrogate": {"members": 4, "hidden": 32, "epochs": 10},
    "proposer": {"steps": 6, "batch_size": 16, "hidden": 32, "max_len": 20,
                 "pretrain_steps": 3, "num_actors": 2, "pool_factor": 3},
    "ray": {"num_cpus": 2},
}
CLI = [sys.executable, "-c", "import sys; from sciloop.pipeline.cli import main; sys.exit(main())"]
ENV = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH="")


def _stage(db: Path, round_: int) -> str | None:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:  # never creates it
            row = con.execute("SELECT stage FROM rounds WHERE round = ?", (round_,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.parametrize("kill_at", ["oracle-call-15", "round1-started", "round1-surrogate",
                                     "round1-trained", "round1-selected", "round1-done"])
def test_sigkill_then_resume(tmp_path, kill_at, crash_report):
    side, kill = tmp_path / "calls.txt", tmp_path / "kill.txt"
    (tmp_path / "crash_oracle.py").write_text(ORACLE.format(side=str(side), kill=str(kill)))
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(CONFIG))
    db = tmp_path / "run" / "ledger.sqlite"

    for _attempt in range(3):  # a short stage can slip past the poll on a loaded machine: run again
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        side.unlink(missing_ok=True)
        proc = _start(tmp_path, "run", "campaign.yaml")
        if kill_at.startswith("oracle-call-"):  # the oracle itself pulls the plug mid-batch
            kill.write_text(f"{proc.pid} {kill_at.rsplit('-', 1)[1]}")
        else:
            stage = kill_at.split("-")[1]
            deadline = time.monotonic() + 300
            while _stage(db, 1) != stage and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        out = proc.communicate(timeout=300)[0]
        if proc.returncode == -signal.SIGKILL:
            break
    assert proc.returncode == -signal.SIGKILL, out[-3000:]
    before = Ledger(db)
    round0 = before.batch(0)
    paid_before = side.read_text().splitlines()

    resumed = subprocess.run([*CLI, "resume", "run"], cwd=tmp_path, env=ENV, capture_output=True,
                             text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

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
