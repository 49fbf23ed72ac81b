"""SIGKILL of a sampler actor mid-call: Ray restarts it, its part is re-drawn, same batch."""

import functools
import os
import signal
import time

import torch

from sciloop.proposers.actors import SamplerPool
from sciloop.proposers.mlp_policy import MLPPolicy
from sciloop.proposers.sequence_env import SequenceEnv


def test_killed_actor_is_restarted_and_the_round_completes(ray_session):
    env = SequenceEnv("ACGT", max_len=64)  # fixed length: every part takes 65 policy calls
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, 512, 3)
    torch.manual_seed(0)
    weights = make_policy().state_dict()
    n = 1600  # about 2 s per part on one free core
    with SamplerPool(env, make_policy, num_actors=2, num_cpus=0.5, seed=9) as pool:
        expected = pool.sample(weights, n, step=5)  # no fault
        no_fault = pool.last_placement
        pids = pool.pids()
        assert [p.pid for p in no_fault] == pids

        pending = pool.submit(weights, n, step=5)
        time.sleep(0.5)  # the actors have the weights and are drawing
        ready = pending.ready()
        assert ready == [False, False], f"a part finished before the kill: {ready}"
        os.kill(pids[1], signal.SIGKILL)
        got = pending.result()
        faulted = pool.last_placement
        restarted = pool.pids()

    assert torch.equal(got.states, expected.states) and torch.equal(got.actions, expected.actions)
    assert torch.equal(got.lengths, expected.lengths) and len(got) == n
    # part 1 was drawn again, by the restarted process of the same actor, with the same seed
    assert faulted[1].pid != pids[1] and faulted[1].pid == restarted[1], (pids, restarted,
                                                                          faulted)
    assert faulted[1].actor_id == no_fault[1].actor_id and faulted[1].seed == no_fault[1].seed
    assert faulted[0].pid == pids[0] == restarted[0]
