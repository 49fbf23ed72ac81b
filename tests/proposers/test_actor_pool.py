"""The generic Ray sampler pool: seeded parts, weights broadcast, placement, release."""

import functools

import pytest
import torch

from sciloop.proposers.actors import SamplerActor, SamplerPool, part_seed, split
from sciloop.proposers.hypergrid import HypergridEnv
from sciloop.proposers.mlp_policy import MLPPolicy
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer


def small_world(seed: int = 0):
    env = SequenceEnv("ACGT", max_len=12, min_len=1)
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, 32, 2)
    torch.manual_seed(seed)
    return env, make_policy, make_policy().state_dict()


def same(a, b) -> bool:
    return (torch.equal(a.states, b.states) and torch.equal(a.actions, b.actions)
            and torch.equal(a.lengths, b.lengths))


def test_split_and_seeds():
    assert split(10, 3) == [4, 3, 3] and split(2, 4) == [1, 1, 0, 0]
    seeds = {part_seed(s, t, p) for s in range(3) for t in range(3) for p in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**32 for s in seeds)
    assert part_seed(1, 2, 3) == part_seed(1, 2, 3)


def test_in_process_pool_needs_no_ray():
    env, make_policy, weights = small_world()
    with SamplerPool(env, make_policy, num_actors=0, seed=4) as pool:
        a = pool.sample(weights, 20, step=1)
        b = pool.sample(weights, 20, step=1)
        c = pool.sample(weights, 20, step=2)
    assert len(a) == 20 and same(a, b) and not same(a, c)
    (where,) = pool.last_placement
    assert where.actor_id == "local" and where.n == 20 and where.gpu_ids == ()
    assert where.seed == part_seed(4, 2, 0)


def test_actors_repeat_with_same_seeds_and_match_in_process(ray_session, held_cpus):
    env, make_policy, weights = small_world()
    runs = []
    for _ in range(2):
        with SamplerPool(env, make_policy, num_actors=2, num_cpus=0.5, seed=7) as pool:
            runs.append((pool.sample(weights, 21, epsilon=0.1, step=3),
                         pool.sample(weights, 21, epsilon=0.1, step=4)))
            placement = pool.last_placement
            assert held_cpus(1.0) == 1.0  # 2 x 0.5 CPU held
        assert held_cpus(0.0) == 0.0  # released on exit
    (a3, a4), (b3, b4) = runs
    assert len(a3) == 21 and same(a3, b3) and same(a4, b4) and not same(a3, a4)

    # each part is what a plain in-process sampler draws with the part's seed
    assert [p.part for p in placement] == [0, 1] and [p.n for p in placement] == [11, 10]
    assert len({p.actor_id for p in placement}) == 2 and "local" not in {p.actor_id for p in placement}
    node = ray_session.get_runtime_context().get_node_id()
    assert {p.node_id for p in placement} == {node}
    local = SamplerActor(env, make_policy)
    parts = [local.sample(weights, p.n, p.seed, 0.1, p.part)[0] for p in placement]
    assert [p.seed for p in placement] == [part_seed(7, 4, i) for i in range(2)]
    assert same(parts[0], _cols(a4, 0, 11)) and same(parts[1], _cols(a4, 11, 21))


def _cols(traj, lo: int, hi: int):
    """Columns `lo:hi` of a concatenated batch, trimmed to their own horizon."""
    from sciloop.proposers.replay import select

    return select(traj, torch.arange(lo, hi))


def test_weights_are_used_and_module_accepted(ray_session):
    """Learner updates reach the actors: sampling follows the broadcast weights."""
    env = HypergridEnv(2, 8)
    trainer = GFlowNetTrainer(env, CoreConfig(hidden=32, layers=2, seed=1, lr=0.05))
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, 32, 2)
    corner = torch.tensor([7.0, 7.0])

    def log_reward(x: torch.Tensor) -> torch.Tensor:  # sharply peaked at (7, 7)
        return -3.0 * (x.float() - corner).abs().sum(-1)

    with SamplerPool(env, make_policy, num_actors=2, num_cpus=0.5, seed=2) as pool:
        before = pool.sample(trainer.policy, 200, step=0).terminal.float()
        for step in range(1, 41):
            traj = pool.sample(trainer.policy.state_dict(), 32, step=step, epsilon=0.05)
            trainer.update(traj, log_reward(traj.terminal))
        after = pool.sample(trainer.policy, 200, step=99).terminal.float()
    def dist(x: torch.Tensor) -> float:  # mean L1 distance to the peak
        return float((x - corner).abs().sum(-1).mean())

    assert dist(after) < dist(before) - 2.0


def test_without_ray_initialised_pool_fails_clearly(monkeypatch):
    from sciloop.proposers import actors

    env, make_policy, _ = small_world()
    monkeypatch.setattr(actors.ray, "is_initialized", lambda: False)
    with pytest.raises(RuntimeError, match="ray.init"):
        SamplerPool(env, make_policy, num_actors=2)


