"""The data-parallel learner (gloo, 2 Ray actors at half a CPU, one thread each) against one
process on the whole batch: gradients, the step, `reset_log_z`, training in lockstep, rebuild."""

import pytest
import torch

from sciloop.proposers.data_parallel import DataParallelConfig, DataParallelLearner
from sciloop.proposers.hypergrid import HypergridEnv, HypergridReward
from sciloop.proposers.replay import select
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer
from sciloop.proposers.trajectories import Trajectories, sample_trajectories

ENV = HypergridEnv(ndim=2, height=5)
RANKS = DataParallelConfig(num_ranks=2, num_cpus=0.5, num_threads=1, timeout_s=20)


def config(objective: str, **kw) -> CoreConfig:
    # no clipping in effect: a summed gradient (2x) would otherwise be clipped back
    return CoreConfig(objective=objective, hidden=32, layers=2, grad_clip=1e6, seed=3, **kw)


def fixed_batch(n: int = 12) -> tuple[Trajectories, torch.Tensor]:
    """Trajectories of varied lengths from a seeded untrained policy, and fixed log-rewards."""
    torch.manual_seed(7)
    policy = GFlowNetTrainer(ENV, config("db")).policy
    traj = sample_trajectories(ENV, policy, n, torch.Generator().manual_seed(11), epsilon=0.5)
    return traj, torch.randn(n, generator=torch.Generator().manual_seed(5))


def shares(traj: Trajectories, log_r: torch.Tensor, cut: int):
    a, b = torch.arange(cut), torch.arange(cut, len(traj))
    return [select(traj, a), select(traj, b)], [log_r[a], log_r[b]]


def grads(trainer: GFlowNetTrainer) -> list[torch.Tensor]:
    return [p.grad.clone() for g in trainer.optimizer.param_groups for p in g["params"]]


def one_process(cfg: CoreConfig, traj: Trajectories, log_r: torch.Tensor,
                reset_log_z: bool = False) -> GFlowNetTrainer:
    """A trainer after one step on the batch; the step's loss in `trainer.loss`."""
    trainer = GFlowNetTrainer(ENV, cfg)
    trainer.loss = trainer.update(traj, log_r, reset_log_z)
    return trainer


def close(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=1e-5, atol=1e-7) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("objective", ["tb", "db"])
def test_reduced_gradients_and_step_equal_one_process_on_the_whole_batch(ray_session, objective):
    cfg = config(objective)
    traj, log_r = fixed_batch()
    parts, rewards = shares(traj, log_r, cut=4)  # 4 + 8 trajectories, of different lengths
    whole = one_process(cfg, traj, log_r)
    # the test can fail: the plain mean of the two shares' gradients is not the whole batch's
    naive = [(x + y) / 2 for x, y in zip(grads(one_process(cfg, parts[0], rewards[0])),
                                         grads(one_process(cfg, parts[1], rewards[1])))]
    assert not close(naive, grads(whole))

    with DataParallelLearner(ENV, cfg, RANKS) as dp:
        assert dp.backend == "gloo" and dp.size == 2
        loss = dp.update(parts, rewards)
        per_rank = dp.gradients()
        states = dp.state_dicts()

    assert loss == pytest.approx(whole.loss, rel=1e-5)
    for rank_grads in per_rank:
        assert close(rank_grads, grads(whole))
    one = whole.state_dict()
    for state in states:  # after the step: equal to each other and to the single process
        assert state["policy"].keys() == one["policy"].keys()
        for k, v in one["policy"].items():
            assert torch.equal(state["policy"][k], states[0]["policy"][k])
            assert torch.allclose(state["policy"][k], v, rtol=1e-5, atol=1e-6)
        assert torch.equal(state["log_z"], states[0]["log_z"])
        assert torch.allclose(state["log_z"], one["log_z"], atol=1e-6)
        assert state["trajectories_seen"] == len(traj)


def test_reset_log_z_is_the_whole_batch_minimiser_on_every_rank(ray_session):
    cfg = config("tb", lr_log_z=0.0)  # log Z stays where the reset put it
    traj, log_r = fixed_batch()
    parts, rewards = shares(traj, log_r, cut=4)
    whole = float(one_process(cfg, traj, log_r, reset_log_z=True).log_z.detach())
    per_share = [float(one_process(cfg, t, r, reset_log_z=True).log_z.detach())
                 for t, r in zip(parts, rewards)]
    assert min(abs(whole - v) for v in per_share) > 1e-3  # a per-rank reset would show

    with DataParallelLearner(ENV, cfg, RANKS) as dp:
        dp.update(parts, rewards, reset_log_z=True)
        log_z = [float(s["log_z"]) for s in dp.state_dicts()]
    assert log_z[0] == log_z[1] == pytest.approx(whole, abs=1e-5)


def test_training_keeps_the_replicas_identical_and_a_dead_rank_is_dropped(ray_session):
    cfg = config("tb", batch_size=8, reset_log_z=True, replay_fraction=0.25)
    with DataParallelLearner(ENV, cfg, DataParallelConfig(2, timeout_s=5)) as dp:
        metrics = dp.train(HypergridReward(ENV.height), steps=3)
        states = dp.state_dicts()
        # a share of 4 = 3 drawn + 1 replayed; the first step has nothing to replay yet
        assert metrics["steps"] == 3.0 and states[0]["trajectories_seen"] == 2 * 3 + 2 * 2 * 4
        for k, v in states[0]["policy"].items():
            assert torch.equal(v, states[1]["policy"][k])
        assert torch.equal(states[0]["log_z"], states[1]["log_z"])
        # different draws per rank (else the batch would hold every trajectory twice)
        assert not torch.equal(states[0]["generator"], states[1]["generator"])

        ray_session.kill(dp.ranks[1], no_restart=True)
        with pytest.raises(ray_session.exceptions.RayError):
            dp.train(HypergridReward(ENV.height), steps=1)
        assert dp.rebuild() == 1
        assert dp.train(HypergridReward(ENV.height), steps=1)["steps"] == 1.0
        # the failed step counted nothing; the survivor draws the whole batch: 6 + 2 replayed
        assert dp.state_dict()["trajectories_seen"] == 22 + 6


def test_settings_refuse_a_shared_gpu():
    with pytest.raises(ValueError, match="two ranks on one GPU"):
        DataParallelConfig(num_gpus=0.5)
