"""Warm refits (`EnsembleConfig.warm_max_steps`): a round's surrogate continues from the last one."""

import pytest
import torch
from scipy.stats import spearmanr

from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer
from sciloop.surrogates.training import TrainConfig, member_weights, row_keys

SMALL = EnsembleConfig(members=5, hidden=64, layers=2, epochs=60, batch_size=128, seed=0, num_threads=1)


def test_keyed_bootstrap_weights_follow_the_design_not_its_row_or_the_seed():
    designs = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl", "OCCO"] * 5
    designs = [d + "C" * i for i, d in enumerate(designs)]  # 30 distinct
    first = member_weights(20, 4, TrainConfig(seed=3), keys=row_keys(designs[:20]))
    later = member_weights(30, 4, TrainConfig(seed=99), keys=row_keys(designs[::-1]))
    # design i is row i of the first fit and row 29 - i of the later one
    torch.testing.assert_close(first, later[:, 29 - torch.arange(20)])
    assert (first == 0).any() and (first > 1).any()  # a Poisson(1) bootstrap, not all ones
    fresh = member_weights(20, 4, TrainConfig(seed=3))
    assert not torch.equal(fresh, first)  # without keys: drawn from the seed, as before


def test_a_warm_refit_starts_from_the_last_fit_and_takes_at_most_warm_max_steps(logp_data):
    smiles, labels = logp_data
    cfg = SMALL.model_copy(update={"warm_max_steps": 12})
    surrogate = EnsembleSurrogate(MorganFeaturizer(), cfg)
    cold = surrogate.fit(smiles[:300], labels[:300], warm=True)  # nothing to start from: a full fit
    assert cold["warm"] == 0 and cold["steps"] > 12
    warm = surrogate.fit(smiles[:400], labels[:400], warm=True)
    assert warm["warm"] == 1 and warm["steps"] <= 12
    # it learnt from the previous fit: far better on held-out molecules than 12 steps from scratch
    scratch = EnsembleSurrogate(MorganFeaturizer(), cfg.model_copy(update={"max_steps": 12}))
    scratch.fit(smiles[:400], labels[:400])
    held_out = smiles[400:], labels[400:]
    rho_warm = spearmanr(surrogate.predict(held_out[0])[0], held_out[1]).statistic
    rho_scratch = spearmanr(scratch.predict(held_out[0])[0], held_out[1]).statistic
    assert rho_warm > 0.6 and rho_warm > rho_scratch + 0.1


def test_warm_needs_warm_max_steps(logp_data):
    smiles, labels = logp_data
    with pytest.raises(ValueError, match="warm_max_steps"):
        EnsembleSurrogate(MorganFeaturizer(), SMALL).fit(smiles[:50], labels[:50], warm=True)


def test_warm_refits_need_the_bootstrap():
    """Without it the held-out split is drawn afresh each round, so a warm member was validated
    and calibrated on rows it had trained on (a review's toy: val_mse below the noise floor)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="warm_max_steps needs bootstrap"):
        SMALL.model_copy(update={"bootstrap": False}).model_validate(
            SMALL.model_dump() | {"bootstrap": False, "warm_max_steps": 50})
