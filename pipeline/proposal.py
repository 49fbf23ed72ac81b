"""The proposal half of a round: fit the surrogate -> reward -> train the proposer -> sample -> select.

`Proposal` owns the models a campaign carries from round to round (the surrogate, refitted warm,
and the proposer) and turns the ledger's labels into the next batch. It is handed what it needs
(the ledger of the call, the checkpoints service, a progress bar and a log line) and starts no
service itself, so `Campaign.run`, `resume` and the ask/tell client (`Campaign.propose`) drive the
same stages. The ledger's stage marks (`surrogate`, `trained`) record how far a round got (for the
UI and a post-mortem); a round that stops before its batch is selected is proposed again on resume,
from the previous round's checkpoints.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.progress import Progress

from sciloop.pipeline.builders import ensemble_config, fit_surrogate, refits_warm, round_acquisition
from sciloop.pipeline.checkpoints import Checkpoints
from sciloop.pipeline.config import CampaignConfig, ConfigError
from sciloop.pipeline.domains import Domain, select_diverse
from sciloop.pipeline.ledger import DesignRow, Label, Ledger, RunDirError
from sciloop.pipeline.proposer_registry import make_proposer, proposer_entry
from sciloop.pipeline.round_log import RoundContext
from sciloop.proposers.genetic import GeneticConfig
from sciloop.surrogates.acquisition import acquisition_values, make_log_reward
from sciloop.surrogates.members import make_surrogate

if TYPE_CHECKING:
    from sciloop.proposers.gflownet import GFlowNetProposer

#: A transient progress bar; `counted=False` for work of unknown length.
ProgressFactory = Callable[..., Progress]


class Proposal:
    """Proposes each round's designs from every label so far.

    Args:
        config: the campaign's config.
        domain: what a design is (keys, featurizer, distance).
        library: the initial designs (round 0's screen; the GFlowNet's pretraining set; the
            offspring proposer's immigrant parents).
        checkpoints: where the models of each round are written and resumed from.
        run_dir: the campaign's run directory (named in errors a user acts on).
        progress: makes a progress bar (`progress(counted=False)` for work of unknown length).
        log: prints one time-stamped line.
    """

    def __init__(self, config: CampaignConfig, domain: Domain, library: Sequence[str], checkpoints: Checkpoints,
                 run_dir: Path, progress: ProgressFactory,
                 log: Callable[[str], None]) -> None:
        self.config, self.domain, self.library = config, domain, library
        self.checkpoints, self.run_dir = checkpoints, run_dir
        self._progress, self._log = progress, log
        self.featurizer = domain.featurizer(config.surrogate.member)
        self.proposer: Any = None  # built on the first proposal round (from its checkpoint on resume)
        self.surrogate: Any = None  # the last round's, refitted warm (`surrogate.warm_max_steps`)

    def initial_batch(self, ledger: Ledger, n: int) -> list[DesignRow]:
        """Round 0: a random screen of the library (counted against the budget)."""
        rng = random.Random(self.config.seed)
        known = ledger.known_keys()
        picks = rng.sample([s for s in self.library if s not in known], n)
        return [DesignRow(key=s, design=s, source=self.domain.initial_source) for s in picks]

    def propose(self, ledger: Ledger, round_: int, n: int, metrics: dict[str, float],
                ctx: RoundContext) -> list[DesignRow]:
        """Fit the surrogate, train the proposer on its reward, sample a pool, select `n` by index.
        Stage times and statistics go into `metrics`, what the round's log shows into `ctx`.

        A proposer with `prepare(top)` (offspring: breeding, which needs labels but no surrogate)
        is started before the fit, so the two overlap; `seconds_surrogate` then shares the CPUs.
        """
        t = time.monotonic()
        labels = ledger.labels()
        ranked = sorted(((label.value, label.key) for label in labels), reverse=True)
        top = [key for _, key in ranked[: self.config.proposer.replay_top]]  # the best labelled designs
        if self.proposer is not None and hasattr(self.proposer, "prepare"):
            self.proposer.prepare(top)
        surrogate, designs, y, fit_stats = self._fit_surrogate(ledger, round_, labels)
        metrics.update(fit_stats)
        metrics["seconds_surrogate"] = time.monotonic() - t
        ledger.set_stage(round_, "surrogate")

        acq_cfg = round_acquisition(self.config, round_)
        if self.proposer is None:
            self.proposer = self._make_proposer(round_)
        t = time.monotonic()
        log_reward = make_log_reward(surrogate, acq_cfg, designs, y)
        pc = self.config.proposer
        steps = proposer_entry(pc.name).steps(pc)
        samplers: Callable[[], AbstractContextManager[Any]] = getattr(self.proposer, "samplers", nullcontext)
        with samplers(), self._progress() as progress:  # one actor start-up per round
            task = progress.add_task(f"round {round_}: train proposer", total=steps)
            calls = iter(range(1, steps + 1))  # proposers number their steps from 0 or from 1: count calls
            train_stats = self.proposer.train(log_reward, steps, offline=top,
                                              progress=lambda _i, _m: progress.update(
                                                  task, completed=next(calls, steps)))
            metrics["seconds_proposer"] = time.monotonic() - t
            t = time.monotonic()
            pool, candidates = self._sample_pool(ledger, pc.pool_factor * n)
        metrics.update({f"proposer_{k}": float(v) for k, v in (train_stats or {}).items()})
        workers = {(p["node_id"], p["actor_id"]): p["gpu_ids"] for p in getattr(self.proposer, "placements", [])}
        ledger.record_placements(round_, "proposer", [{"node": n, "worker": a, "gpus": g}
                                                      for (n, a), g in workers.items()])
        ctx.checkpoints = [self.checkpoints.write("proposer", round_, self.proposer.state_dict()),
                           self.checkpoints.write("surrogate", round_, surrogate.state_dict())]
        ledger.set_stage(round_, "trained")
        ledger.add_candidates(round_, candidates)
        metrics.update(pool_sampled=len(candidates), pool_kept=len(pool),
                       pool_invalid=sum(c[2] == "invalid" for c in candidates),
                       pool_labelled=sum(c[2] == "labelled" for c in candidates))
        if not pool:
            raise ConfigError(f"round {round_}: the proposer produced no new valid design ({len(candidates)} "
                              f"sampled: {metrics['pool_invalid']} invalid, {metrics['pool_labelled']} already "
                              f"labelled), so the space it explores may be exhausted: its labels are in the "
                              f"ledger (`sciloop best {self.run_dir}`). To search on, start a new run_dir with "
                              f"another proposer.name or a larger pool (proposer.pool_factor, now "
                              f"{pc.pool_factor}; proposer.offspring_children for the offspring proposers)")
        values = acquisition_values(log_reward.acquisition, surrogate.features(pool))  # the reward's own
        min_distance, relaxed = self.config.selection.min_distance, list[int]()
        free = round(self.config.selection.greedy_fraction * n)  # the top picks, exempt from min_distance
        picks = select_diverse(self.domain, values, pool, n, min_distance, relaxed, free)
        if min_distance > 0:  # a pool short of far-apart designs fills the batch with close ones
            metrics["selection_too_close"] = len(relaxed)
            if relaxed:
                self._log(f"round {round_}: {len(relaxed)} of {len(picks)} picks are closer than "
                          f"selection.min_distance {min_distance} to an earlier pick (too few far-apart "
                          f"designs in the pool of {len(pool)})")
        mean, std = surrogate.predict([pool[i] for i in picks])
        metrics["seconds_propose"] = time.monotonic() - t
        pool_log_rewards = log_reward(pool).tolist()
        ctx.train_designs, ctx.train_y = designs, y
        ctx.pool_log_rewards, ctx.picked_log_rewards = pool_log_rewards, [pool_log_rewards[i] for i in picks]
        return [DesignRow(key=pool[i], design=pool[i], source=pc.name,
                          acquisition=float(values[i]), mean=float(m), std=float(s))
                for i, m, s in zip(picks, mean.tolist(), std.tolist())]

    def context_of(self, ledger: Ledger, round_: int) -> RoundContext:
        """What a round proposed in an earlier session leaves for its log: the labels it was fitted
        on (those of earlier rounds) and its checkpoints (the pool's rewards are not kept)."""
        labels = [l for l in ledger.labels() if l.round < round_]
        return RoundContext(train_designs=[l.key for l in labels], train_y=[l.value for l in labels],
                            checkpoints=self.checkpoints.of_round(round_))

    def _fit_surrogate(self, ledger: Ledger, round_: int,
                       labels: list[Label]) -> tuple[Any, list[str], list[float], dict[str, float]]:
        if len(labels) < 2:
            failed = ledger.failed()
            raise RunDirError(
                f"round {round_} needs at least 2 labels to fit the surrogate, and the ledger holds "
                f"{len(labels)} ({len(failed)} designs failed, e.g. {ledger.failures()[:1]}). "
                f"Correct failures with `sciloop label {self.run_dir} results.csv` (a failure may be "
                f"corrected to a label), then `sciloop resume {self.run_dir}`")
        designs, y = [l.key for l in labels], [l.value for l in labels]
        if self.surrogate is None and refits_warm(self.config):
            self.surrogate = self._last_surrogate(round_)  # resumed: warm from where it stopped
        surrogate, stats, where = fit_surrogate(self.config, self.featurizer, designs, y, round_, self.surrogate)
        self.surrogate = surrogate
        if where is not None:
            ledger.record_placements(round_, "surrogate", [where])
        return surrogate, designs, y, {f"surrogate_{k}": float(v) for k, v in stats.items()}

    def _make_proposer(self, round_: int) -> Any:
        # resume: the last round's weights and draws (genetic proposers' settings were a dataclass
        # in checkpoints written before 2026-12-07)
        state = self.checkpoints.load("proposer", round_, allowed=[GeneticConfig])
        proposer = make_proposer(self.config, self.library, self._pretrain if state is None else None)
        if state is not None:
            proposer.load_state_dict(state)
        return proposer

    def _last_surrogate(self, round_: int) -> Any:
        """The previous round's surrogate from its checkpoint (None: there is none), so a resumed
        campaign refits warm from the same weights as one that never stopped."""
        state = self.checkpoints.load("surrogate", round_)
        if state is None:
            return None
        surrogate = make_surrogate(self.featurizer, ensemble_config(self.config, round_))
        surrogate.load_state_dict(state)
        return surrogate

    def _pretrain(self, proposer: GFlowNetProposer, steps: int) -> None:
        with self._progress(counted=False) as progress:  # pretrain() reports no steps
            progress.add_task(f"pretrain GFlowNet policy on the library ({steps} steps)", total=None)
            nll = proposer.pretrain(steps)
        self._log(f"pretrained the policy for {steps} steps (NLL {nll:.2f})")

    def _sample_pool(self, ledger: Ledger, size: int,
                     attempts: int = 4) -> tuple[list[str], list[tuple[str, str | None, str | None]]]:
        """Sample until `size` new, valid, distinct designs (canonical) or `attempts` draws.

        A proposer that concentrates on designs it was shown (replayed top labels) returns many
        already-labelled ones: drawing again keeps the batch full. Returns the pool and every
        candidate as (design, key, why dropped).
        """
        known, seen = ledger.known_keys(), set()
        pool: list[str] = []
        candidates: list[tuple[str, str | None, str | None]] = []
        for _ in range(attempts):
            for design in self.proposer.sample(size):
                key = self.domain.canonical(design)
                why = ("invalid" if key is None else "labelled" if key in known
                       else "duplicate" if key in seen else None)
                candidates.append((design, key, why))
                if why is None and key is not None:
                    seen.add(key)
                    pool.append(key)
            if len(pool) >= size:
                break
        return pool, candidates
