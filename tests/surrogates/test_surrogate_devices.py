"""The surrogate's device: every member kind fits and predicts there; the checkpoint is on the CPU.

CUDA cases run where a CUDA device is visible (`benchmarks/gpu_check.py` runs them on the lent
GPU); on a CPU-only machine `auto` must be the CPU, bit for bit.
"""

import pytest
import torch
from pydantic import ValidationError

from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer
from sciloop.surrogates.graphs import GraphFeaturizer
from sciloop.surrogates.training import resolve_device

CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not CUDA, reason="no CUDA device"))]
FEATURIZERS = {"mlp": MorganFeaturizer, "gnn": GraphFeaturizer}


def fit(member: str, device: str, data, warm_refit: bool = False) -> tuple[EnsembleSurrogate, dict]:
    smiles, labels = data
    config = EnsembleConfig(member=member, members=3, hidden=32, layers=2, epochs=8, batch_size=64, seed=2,
                            num_threads=1, device=device, warm_max_steps=20 if warm_refit else None)
    surrogate = EnsembleSurrogate(FEATURIZERS[member](), config)
    stats = surrogate.fit(smiles[:120], labels[:120])
    if warm_refit:
        stats = surrogate.fit(smiles[:160], labels[:160], warm=True)
    return surrogate, stats


def test_device_names_are_checked():
    assert resolve_device("auto") == torch.device("cuda" if CUDA else "cpu")
    with pytest.raises(ValidationError, match="pattern"):
        EnsembleConfig(device="gpu")
    if not CUDA:
        with pytest.raises(ValueError, match="sees no CUDA device"):
            resolve_device("cuda:0")


@pytest.mark.skipif(CUDA, reason="on a CUDA machine 'auto' is the GPU")
@pytest.mark.parametrize("member", FEATURIZERS)
def test_auto_without_cuda_is_the_cpu_bit_for_bit(member, logp_data):
    (a, stats_a), (b, _) = fit(member, "auto", logp_data), fit(member, "cpu", logp_data)
    held_out = logp_data[0][200:260]
    assert a.device == b.device == torch.device("cpu") and stats_a["cuda"] == 0.0
    assert torch.equal(a.members_predict(held_out), b.members_predict(held_out))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("member", FEATURIZERS)
def test_fits_and_predicts_on_its_device_and_hands_back_a_cpu_checkpoint(member, device, logp_data):
    surrogate, stats = fit(member, device, logp_data, warm_refit=True)
    assert surrogate.device.type == device and stats["cuda"] == float(device == "cuda") and stats["warm"] == 1.0
    held_out = logp_data[0][200:260]
    mean, std = surrogate.predict(held_out)
    assert mean.device.type == "cpu" and mean.dtype == torch.float64 and bool((std > 0).all())
    X = surrogate.features(held_out).unsqueeze(1)  # BoTorch's `b x q x d`, on the CPU
    assert surrogate.model.posterior(X).mean.device.type == "cpu"
    state = surrogate.state_dict()
    assert {t.device.type for t in state["net"].values()} == {"cpu"}
    on_cpu = EnsembleSurrogate(FEATURIZERS[member](), EnsembleConfig(**{**state["config"], "device": "cpu"}))
    on_cpu.load_state_dict({**state, "config": {**state["config"], "device": "cpu"}})
    assert on_cpu.device.type == "cpu"
    torch.testing.assert_close(on_cpu.members_predict(held_out), surrogate.members_predict(held_out),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(CUDA, reason="checks a machine without CUDA")
def test_a_checkpoint_fitted_on_a_gpu_loads_on_the_cpu_of_a_driver_without_one(logp_data):
    """A Ray fit task with `device: cuda` hands back a state whose config names CUDA."""
    surrogate, _ = fit("mlp", "cpu", logp_data)
    state = surrogate.state_dict()
    state["config"]["device"] = "cuda"
    driver = EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig())
    driver.load_state_dict(state)
    assert driver.device.type == "cpu" and driver.config.device == "cuda"
    held_out = logp_data[0][200:230]
    assert torch.equal(driver.members_predict(held_out), surrogate.members_predict(held_out))
