"""The molecule proposer's GFlowNet on Ray sampler actors (SELFIES env, GRU policy).

`GFlowNetProposer` draws through one seam, `trainer.sampler(n, epsilon)`; here a
`SamplerPool` of two actors fills it, as the proposer will once the pool is wired in.
"""

import functools
import itertools

import torch

from sciloop.proposers.actors import SamplerActor, SamplerPool
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.policy import SequencePolicy


def log_reward(smiles: list[str]) -> torch.Tensor:
    return torch.tensor([float(s.count("N")) for s in smiles])


def config(**overrides) -> GFlowNetConfig:
    base = {"num_actors": 2, "actor_num_cpus": 0.5, "hidden": 32, "num_layers": 1,
            "max_len": 20, "batch_size": 32, "seed": 11}
    return GFlowNetConfig(**{**base, **overrides})


def pool_for(proposer: GFlowNetProposer) -> SamplerPool:
    cfg = proposer.config
    make_policy = functools.partial(SequencePolicy.for_env, proposer.env, cfg.hidden,
                                    cfg.num_layers)
    return SamplerPool(proposer.env, make_policy, cfg.num_actors, cfg.actor_num_cpus,
                       seed=cfg.seed)


def train_on_actors(proposer: GFlowNetProposer, steps: int) -> tuple[list[str], list]:
    """Trains through a two-actor pool, then samples; returns designs and placements."""
    with pool_for(proposer) as pool:
        draws = itertools.count()
        proposer.trainer.sampler = lambda n, eps: pool.sample(proposer.policy, n, eps,
                                                              step=next(draws))
        proposer.train(log_reward, steps=steps)
        placement = pool.last_placement
        designs = proposer.env.to_designs(pool.sample(proposer.policy, 25, step=1000).terminal)
    return designs, placement


def test_proposer_trains_on_two_actors_that_are_released(ray_session, nci_smiles, held_cpus):
    proposer = GFlowNetProposer.from_corpus(nci_smiles[:500], config())
    before = [p.detach().clone() for p in proposer.policy.parameters()]
    designs, placement = train_on_actors(proposer, steps=3)
    assert len(designs) == 25 and all(designs)
    assert len({p.actor_id for p in placement}) == 2  # two distinct actors drew trajectories
    assert {p.node_id for p in placement} == {ray_session.get_runtime_context().get_node_id()}
    assert sum(p.n for p in placement) == 32
    assert any(not torch.equal(a, b) for a, b in zip(before, proposer.policy.parameters()))
    assert held_cpus(0.0) == 0.0  # both actors (0.5 CPU each) are gone


def test_same_seed_same_molecules_on_actors(ray_session, nci_smiles):
    runs = [train_on_actors(GFlowNetProposer.from_corpus(nci_smiles[:500], config()), 2)[0]
            for _ in range(2)]
    assert runs[0] == runs[1]


def test_actor_parts_equal_in_process_draws(ray_session, nci_smiles):
    proposer = GFlowNetProposer.from_corpus(nci_smiles[:300], config(seed=3))
    with pool_for(proposer) as pool:
        traj = pool.sample(proposer.policy, 9, epsilon=0.2, step=4, temperature=1.5)
        placement = pool.last_placement
    local = SamplerActor(proposer.env, lambda: SequencePolicy.for_env(proposer.env, 32, 1))
    weights = proposer.policy.state_dict()
    parts = [local.sample(weights, p.n, p.seed, 0.2, p.part, 1.5)[0] for p in placement]
    designs = [d for part in parts for d in proposer.env.to_designs(part.terminal)]
    assert [p.n for p in placement] == [5, 4]
    assert proposer.env.to_designs(traj.terminal) == designs
