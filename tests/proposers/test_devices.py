"""The learner's device: resolved once, honoured by the trainer, invisible in its results on the CPU.

CUDA cases run where a CUDA device is visible (`benchmarks/gpu_check.py` runs them on the lent
GPU); on a CPU-only machine they are skipped, and `auto` must mean the CPU, bit for bit.
"""

import pytest
import torch

from sciloop.proposers.devices import OnDevice, on_device, resolve_device, to_cpu
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.mlp_policy import MLPPolicy, PolicyOutput
from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer
from sciloop.proposers.trajectories import sample_trajectories

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")


def bits_log_reward(states: torch.Tensor) -> torch.Tensor:
    return 2.0 * states.float().mean(1)


def trained(device: str, steps: int = 15, **extra) -> GFlowNetTrainer:
    env = SequenceEnv("01", max_len=6)
    config = CoreConfig(hidden=32, batch_size=16, epsilon=0.1, replay_fraction=0.25, seed=3, device=device,
                        **extra)
    torch.manual_seed(1)
    gfn = GFlowNetTrainer(env, config, SequencePolicy.for_env(env, 16, 1))
    gfn.pretrain(env.from_designs(["010101", "111000"]), steps=3)
    gfn.train(bits_log_reward, steps)
    return gfn


def test_auto_is_the_visible_cuda_device_else_the_cpu():
    assert resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu-please")


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_cuda_named_without_cuda_is_refused_not_silently_cpu():
    with pytest.raises(ValueError, match="sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="sees no CUDA device"):
        GFlowNetTrainer(SequenceEnv("01", max_len=4), CoreConfig(device="cuda:0"))


def test_to_cpu_reaches_every_tensor_inside():
    out = to_cpu({"a": [torch.ones(2), (torch.zeros(1), 3)], "b": PolicyOutput(torch.ones(1), None, torch.ones(1)),
                  "c": "text"})
    assert out["a"][1][1] == 3 and out["c"] == "text" and out["b"].back_logits is None
    assert isinstance(out["a"][1], tuple) and out["b"].logits.device.type == "cpu"


@pytest.mark.parametrize("recurrent", [False, True], ids=["mlp", "gru"])
def test_device_wrapper_draws_what_the_policy_draws(recurrent):
    """The bridge a CPU sampler drives a device policy through (here with the CPU as its device)."""
    env = SequenceEnv("ACGT", max_len=12, min_len=1)
    torch.manual_seed(3)
    policy = SequencePolicy.for_env(env, 16, 1) if recurrent else MLPPolicy(env.input_dim, env.n_actions, 32, 2)
    wrapped = OnDevice(policy, torch.device("cpu"))
    assert wrapped.recurrent == recurrent
    assert on_device(policy, torch.device("cpu")) is policy  # no wrapper where none is needed
    a, b = (sample_trajectories(env, p, 30, torch.Generator().manual_seed(5), 0.1) for p in (policy, wrapped))
    assert torch.equal(a.states, b.states) and torch.equal(a.actions, b.actions)


@pytest.mark.skipif(CUDA, reason="on a CUDA machine 'auto' is the GPU: compared by tolerance below")
def test_auto_on_a_machine_without_cuda_is_the_cpu_bit_for_bit():
    a, b = trained("auto"), trained("cpu")
    assert a.device == b.device == torch.device("cpu")
    for (name, x), y in zip(a.policy.state_dict().items(), b.policy.state_dict().values()):
        assert torch.equal(x, y), name
    assert torch.equal(a.log_z, b.log_z) and a.log_partition() == b.log_partition()


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_every_network_and_log_z_on_the_device_and_the_checkpoint_on_the_cpu(device):
    gfn = trained(device, prior_weight=0.5)
    assert gfn.prior is not None
    placed = {t.device.type for m in (gfn.policy, gfn.prior) for t in m.parameters()} | {gfn.log_z.device.type}
    assert placed == {device}
    state = gfn.state_dict()
    leaves = [state["log_z"], *state["policy"].values(), *state["prior"].values()]
    leaves += [t for s in state["optimizer"]["state"].values() for t in s.values()]
    assert leaves and {t.device.type for t in leaves} == {"cpu"}
    again = trained("cpu", steps=0, prior_weight=0.5)  # a checkpoint from any device loads on the CPU
    again.load_state_dict(state)
    assert torch.equal(again.log_z, state["log_z"])


@needs_cuda
def test_a_device_index_beyond_the_visible_ones_is_refused():
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@needs_cuda
def test_cuda_learner_matches_the_cpu_learner_to_float_tolerance():
    """Same seed and draws: the first steps' losses agree (later draws may part on a near-tie)."""
    losses = {}
    for device in ("cpu", "cuda"):
        gfn = trained(device, steps=0)
        traj = gfn.sample_trajectories(32, 0.1)
        losses[device] = [gfn.update(traj, bits_log_reward(traj.terminal)) for _ in range(3)]
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-4, abs=1e-5)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=needs_cuda)])
def test_the_proposer_trains_and_samples_on_its_device(device):
    corpus = ["CCO", "CCN", "c1ccccc1", "CC(=O)O"]
    proposer = GFlowNetProposer.from_corpus(corpus, GFlowNetConfig(
        num_actors=0, hidden=16, num_layers=1, batch_size=8, max_len=12, pretrain_steps=2, device=device))
    proposer.pretrain()
    metrics = proposer.train(lambda smiles: torch.zeros(len(smiles)), steps=2, offline=corpus[:2])
    assert proposer.trainer.device.type == device and metrics["steps"] == 2
    assert len(proposer.sample(5)) == 5
