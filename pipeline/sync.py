"""`sciloop sync`: mirror to MLflow what a campaign could not log while its server was away."""

from __future__ import annotations

from pathlib import Path

from sciloop.pipeline import __version__
from sciloop.pipeline.config import ConfigError, load_config
from sciloop.pipeline.domains import make_domain
from sciloop.pipeline.ledger import Ledger, RunDirLock
from sciloop.pipeline.round_log import RoundContext, log_round
from sciloop.pipeline.tracking import open_campaign_tracker


def _context(ledger: Ledger, run_dir: Path, round_: int) -> RoundContext:
    """What a round's log needs, rebuilt from the ledger and the checkpoints on disk.

    The pool's acquisition values are not kept, so a synced round has no acquisition histogram.
    """
    train = [l for l in ledger.labels() if l.round < round_]
    checkpoints = [p for p in (run_dir / "checkpoints" / f"{kind}-round-{round_:03d}.pt"
                               for kind in ("proposer", "surrogate")) if p.exists()]
    return RoundContext(train_designs=[l.key for l in train], train_y=[l.value for l in train],
                        checkpoints=checkpoints if round_ > 0 else [])


def sync(run_dir: str | Path) -> list[int]:
    """Log every finished round that MLflow does not have yet; return their numbers.

    Rounds already logged are skipped (the ledger records it), and runs created before the
    server went away are reattached, so nothing is logged twice (a round whose logging was
    cut short is completed, not repeated). Holds the run directory: refused while a campaign
    runs in it. A finished campaign's run is closed as FINISHED.

    Raises:
        ConfigError: a campaign is running in `run_dir`, or the tracking server does not answer
            (nothing was logged; run it again once the server is up).
    """
    run_dir = Path(run_dir).resolve()
    ledger = Ledger.of_run_dir(run_dir)
    config = load_config(run_dir / "config.yaml", run_dir=str(run_dir))
    domain = make_domain(config)
    with RunDirLock(run_dir):
        try:
            tracker = open_campaign_tracker(config, run_dir, ledger, __version__)
        except ConnectionError as err:
            raise ConfigError(f"{err}: nothing was synced; run `sciloop sync {run_dir}` again once it is up") from None
        synced = []
        for r in ledger.rounds():
            if r["stage"] != "done" or r["logged"]:
                continue
            run_id = tracker.start_round(r["round"], r["mlflow_run_id"])
            ledger.set_stage(r["round"], "done", mlflow_run_id=run_id)
            log_round(tracker, ledger, run_id, r["round"], r["metrics"], _context(ledger, run_dir, r["round"]), domain)
            ledger.mark_logged(r["round"])
            synced.append(r["round"])
        if ledger.get_meta("finished") and tracker.parent_id is not None:
            tracker.end_run(tracker.parent_id)
    return synced
