"""The scoring stage's oracle settings reach the runner: on a real local Ray, with a real ledger."""

import sys
import time

import pytest
from ray import cloudpickle
from rich.progress import Progress

from sciloop.oracles.base import OracleResult, OracleSetupError
from sciloop.pipeline.config import OracleConfig, load_config
from sciloop.pipeline.ledger import DesignRow, Ledger
from sciloop.pipeline.plugins import resolve_oracle
from sciloop.pipeline.scoring import Scoring

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this file


class SlowStart:
    """Loads a model for a minute before it can score anything."""

    name, num_cpus, num_gpus, timeout_s, batch_size, idempotent = "slow-start", 0.5, 0.0, 60.0, 4, False

    def setup(self):
        time.sleep(60)

    def score(self, batch):
        return [OracleResult.from_value(1.0)] * len(batch)


def test_oracle_num_workers_is_a_config_key():
    oracle, _ = resolve_oracle(OracleConfig(target="qed", num_workers=2))
    assert oracle.num_workers == 2  # what the runner's pool size reads
    assert not hasattr(resolve_oracle(OracleConfig(target="qed"))[0], "num_workers")


def test_oracle_setup_timeout_stops_before_anything_is_charged(ray_session, tmp_path):
    config = load_config({"oracle": {"target": "qed", "setup_timeout_s": 3}, "run_dir": str(tmp_path)})
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(s, s, "library") for s in ("C", "CC")])
    scoring = Scoring(config, SlowStart(), tmp_path, lambda **kw: Progress(disable=True), lambda line: None)
    started = time.monotonic()
    with pytest.raises(OracleSetupError, match="no worker ready after 3 s"):
        scoring.score(ledger, ledger.pending(), "round 0")
    assert time.monotonic() - started < 45  # the setting's 3 s, not the default 600 s
    assert ledger.oracle_calls() == 0


class BusyOnCCO:
    """Idempotent; scores by length, but `CCO` always meets a busy licence server (transient)."""

    name, num_cpus, num_gpus, timeout_s, batch_size, idempotent = "busy-on-cco", 0.5, 0.0, 60.0, 1, True
    transient_errors = (TimeoutError,)

    def score(self, batch):
        if "CCO" in batch:
            raise TimeoutError("licence server busy")
        return [OracleResult.from_value(float(len(s))) for s in batch]


def test_resending_after_a_crash_stays_within_the_budget(ray_session, tmp_path):
    """An idempotent oracle's designs left in flight by a crash are sent again, each a paid call,
    only as far as the budget goes after the designs already selected (they are owed); the rest
    await `sciloop label`."""
    config = load_config({"oracle": {"target": "qed"}, "budget": 7, "initial": {"size": 2}, "batch_size": 2,
                          "run_dir": str(tmp_path)})
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(s, s, "library") for s in ("CCO", "CCN", "CCC", "CCCl", "CCBr")])
    ledger.mark_submitted(["CCO", "CCN", "CCC", "CCCl"])  # then the process died; CCBr still to send
    scoring = Scoring(config, BusyOnCCO(), tmp_path, lambda **kw: Progress(disable=True), lambda line: None)
    assert scoring.settle_in_flight(ledger) is False
    # two re-sends (CCO, CCN); CCO's transient failure is not retried: the seventh call is CCBr's
    assert ledger.oracle_calls() == 4 + 2
    assert [l.key for l in ledger.labels()] == ["CCN"] and [d for d, _ in ledger.failures()] == ["CCO"]
    assert len(ledger.unknown()) == 2
    reasons = {r for (r,) in ledger._db.execute("SELECT reason FROM events WHERE kind = 'unknown'")}
    assert reasons == {"in flight when the campaign stopped; not sent again: the budget is spent"}
    assert [r.key for r in ledger.pending()] == ["CCBr"]
