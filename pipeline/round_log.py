"""Everything one round shows in MLflow: metrics, batch table, pictures, lineage, checkpoint reference."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from sciloop.pipeline.domains import Domain
from sciloop.pipeline.ledger import DesignRow, Ledger
from sciloop.pipeline.plots import calibration_figure, curves_figure, histogram_figure
from sciloop.pipeline.auc import top_k_mean
from sciloop.pipeline.report import count_modes, diversity, novelty
from sciloop.pipeline.tracking import Tracker
from sciloop.surrogates.metrics import prospective_metrics


@dataclass
class RoundContext:
    """What the proposal stage of a round leaves for its log (empty for the initial screen)."""

    train_designs: list[str] = field(default_factory=list)
    train_y: list[float] = field(default_factory=list)
    pool_log_rewards: list[float] = field(default_factory=list)  # the GFlowNet's reward on the pool
    picked_log_rewards: list[float] = field(default_factory=list)  # ... and on the selected batch
    checkpoints: list[Path] = field(default_factory=list)


def round_metrics(ledger: Ledger, round_: int, rows: list[DesignRow], failures: int,
                  domain: Domain) -> dict[str, float]:
    """Oracle calls, best and top-k means, diversity, novelty and modes (in the domain's
    similarity), and the surrogate's prospective accuracy on the new batch (its predictions were
    stored before the labels). As of the round's end: labels and calls of later rounds (a round
    that `Campaign.tell` finishes after later ones were proposed) are not counted."""
    labels = [l for l in ledger.labels() if l.round <= round_]
    values = [l.value for l in labels]
    batch = {l.key: l.value for l in labels if l.round == round_}
    m: dict[str, float] = dict(
        round=round_, oracle_calls=ledger.oracle_calls(through_round=round_), labels=len(values),
        new_labels=len(batch), failures=failures, best=max(values, default=math.nan),
        top1_mean=top_k_mean(values, 1, math.nan), top10_mean=top_k_mean(values, 10, math.nan),
        top100_mean=top_k_mean(values, 100, math.nan),
        batch_mean=float(np.mean(list(batch.values()))) if batch else math.nan,
        batch_best=max(batch.values(), default=math.nan))
    ranked = sorted(labels, key=lambda l: -l.value)
    top = [l.key for l in ranked[:10]]
    initial = [l for l in labels if l.round == 0]
    m["diversity_top10"] = diversity(domain.similarity(top, top))
    if round_ > 0 and initial:
        m["novelty_top10"] = novelty(domain.similarity(top, [l.key for l in initial]))
        # a mode: a design better than anything in the initial screen, and unlike other modes
        m["modes_above_initial_best"] = count_modes(
            [l.key for l in ranked], [l.value for l in ranked],
            threshold=max(l.value for l in initial) + 1e-12, similarity=domain.similarity)
    m["driver_rss_mb"] = _rss_mb()
    scored = [r for r in rows if r.key in batch and r.mean is not None]
    if len(scored) >= 3:
        pm = prospective_metrics(torch.tensor([r.mean for r in scored]), torch.tensor([r.std for r in scored]),
                                 torch.tensor([batch[r.key] for r in scored]))
        m.update({f"{k}_batch": float(v) for k, v in pm.items()})
    return m


def _rss_mb() -> float:
    """Resident memory of this process (MiB); nan where /proc is absent."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return math.nan


def log_round(tracker: Tracker, ledger: Ledger, run_id: str, round_: int, metrics: dict[str, float],
              ctx: RoundContext, domain: Domain) -> bool:
    """Log one round to its nested run and the campaign curves to the parent run; True when done.

    Safe to call again for a round whose logging was interrupted (`sciloop sync`): metrics and
    tables already there are not logged twice; pictures and checkpoints are overwritten.
    """
    assert tracker.parent_id is not None
    if metrics and not tracker.has_step(run_id, next(iter(metrics)), round_):
        tracker.log_metrics(run_id, metrics, step=round_)
    tracker.set_tags(run_id, {f"sciloop.{stage}_nodes": ",".join(sorted(ledger.nodes(stage, round_)))
                              for stage in ("surrogate", "proposer", "oracle")})
    batch = ledger.batch(round_)
    tracker.log_table(run_id, batch, f"batch/round-{round_:03d}.json")
    labels = [l for l in ledger.labels() if l.round <= round_]  # as of the round (`sync` logs it later)
    picture = getattr(domain, "picture", None)  # the best designs as the domain shows them
    image = picture([l.key for l in labels], [l.value for l in labels]) if labels and picture else None
    if isinstance(image, Figure):
        _log_figure(tracker, run_id, image, f"top/round-{round_:03d}.png")
    elif image is not None:
        tracker.client.log_image(run_id, image, f"top/round-{round_:03d}.png")
    _log_figure(tracker, run_id, curves_figure(ledger.call_values(through_round=round_)),
                f"plots/curves-round-{round_:03d}.png")
    if ctx.pool_log_rewards:
        fig = histogram_figure(ctx.pool_log_rewards, ctx.picked_log_rewards, "log-reward")
        _log_figure(tracker, run_id, fig, f"plots/reward-round-{round_:03d}.png")
    scored = [r for r in batch if r["score"] is not None and r["mean"] is not None]
    if len(scored) >= 3:
        fig = calibration_figure([r["mean"] for r in scored], [r["std"] for r in scored],
                                 [r["score"] for r in scored])
        _log_figure(tracker, run_id, fig, f"plots/calibration-round-{round_:03d}.png")
    if ctx.train_designs:
        tracker.log_training_data(run_id, ctx.train_designs, ctx.train_y, ledger.path, round_)
    if ctx.checkpoints:  # one copy, in the run directory; the run keeps a reference to it
        tracker.set_tags(run_id, {"sciloop.checkpoints": ",".join(str(p) for p in ctx.checkpoints)})
        if tracker.local_artifact_dir(run_id) is None:  # a tracking server: a copy off this disk
            for path in ctx.checkpoints:
                tracker.log_artifact(run_id, path, "checkpoints")
    campaign = {k: metrics[k] for k in ("best", "top1_mean", "top10_mean", "top100_mean") if k in metrics}
    calls = int(metrics.get("oracle_calls", ledger.oracle_calls()))
    if campaign and not tracker.has_step(tracker.parent_id, "by_calls/best", calls):
        tracker.log_metrics(tracker.parent_id, {f"by_calls/{k}": v for k, v in campaign.items()}, step=calls)
    if not tracker.has_step(tracker.parent_id, "oracle_calls", round_):
        tracker.log_metrics(tracker.parent_id, campaign | {"oracle_calls": calls}, step=round_)
    tracker.end_run(run_id)
    return True


def _log_figure(tracker: Tracker, run_id: str, fig, path: str) -> None:
    tracker.log_figure(run_id, fig, path)
    plt.close(fig)
