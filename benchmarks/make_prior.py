"""Trains the shipped molecule prior: the GFlowNet's GRU policy, by maximum likelihood on MOSES.

The campaign (`proposer.prior_checkpoint`) and the PMO benchmark start from this checkpoint
instead of pretraining for every run. It holds the SELFIES environment (alphabet, max_len),
the policy's weights and how they were made; `GFlowNetProposer.from_prior` reads it.

    pip install --no-deps molsets     # the MOSES training set, offline
    python benchmarks/make_prior.py --size 100000 --steps 2000   # the shipped one: 18 min on 2 cores

The corpus is a seeded draw from MOSES train (ZINC-derived, 1.58M molecules); PMO's initial
libraries are drawn from the same set, so the prior knows their chemistry.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sciloop.pipeline.bench import git_commit, machine
from sciloop.pipeline.domain import load_library
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.trajectories import from_terminal, score


@torch.no_grad()
def held_out_nll(proposer: GFlowNetProposer, states: torch.Tensor) -> float:
    """Mean negative log-likelihood (nats per molecule) of `states` under the policy."""
    env, policy = proposer.env, proposer.policy
    gen = torch.Generator().manual_seed(0)
    s = score(env, policy, from_terminal(env, states, gen), torch.zeros(len(states)))
    return float(-(s.log_pf.sum(0) - s.log_pb.sum(0)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="molecules drawn from MOSES train")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("configs/priors/moses-selfies-gru.pt"))
    args = parser.parse_args()

    t0 = time.monotonic()
    corpus = load_library("moses", size=args.size, seed=args.seed)
    held, train = corpus[:2000], corpus[2000:]
    config = GFlowNetConfig(num_actors=0, lr=args.lr, learner_threads=args.threads, seed=args.seed)
    proposer = GFlowNetProposer.from_corpus(train, config)
    states = proposer.env.from_designs(train)
    held_states = proposer.env.from_designs(held)
    print(f"{len(corpus)} molecules, {len(states)} encodable for training, {len(held_states)} held out; "
          f"{proposer.env!r}; loaded in {time.monotonic() - t0:.0f} s")
    torch.set_num_threads(args.threads)
    chunk = 250
    for done in range(0, args.steps, chunk):
        t = time.monotonic()
        nll = proposer.trainer.pretrain(states, min(chunk, args.steps - done), args.batch_size)
        print(f"step {done + chunk:5d}: train NLL {nll:6.2f}, held-out NLL {held_out_nll(proposer, held_states):6.2f} "
              f"({(time.monotonic() - t) / chunk:.2f} s/step)", flush=True)
    sample = proposer.sample(1000)
    valid_unique = len({s for s in sample if s}) / len(sample)
    novel = len({s for s in sample if s} - set(corpus)) / len(sample)
    meta = {"corpus": f"MOSES train, {args.size} drawn with seed {args.seed}", "steps": args.steps,
            "batch_size": args.batch_size, "lr": args.lr, "held_out_nll": held_out_nll(proposer, held_states),
            "sample_valid_unique": valid_unique, "sample_novel": novel, "hidden": config.hidden,
            "num_layers": config.num_layers, "seconds": time.monotonic() - t0, "machine": machine(),
            "commit": git_commit()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"env": proposer.env.state_dict(), "policy": proposer.policy.state_dict(), "meta": meta}, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB): {meta}")


if __name__ == "__main__":
    main()
