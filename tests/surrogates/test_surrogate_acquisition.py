import math

import pytest
import torch
from botorch.models.ensemble import EnsembleModel

from sciloop.surrogates import (
    ACQUISITION_NAMES,
    LOG_REWARD_FLOOR,
    AcquisitionConfig,
    acquisition_values,
    make_acquisition,
    make_log_reward,
    select_batch_greedy_q,
)

# member predictions fixed by hand: `s x n` = 4 members x 3 designs
TABLE = torch.tensor([[1.0, 0.0, 2.0],
                      [3.0, 0.5, 2.0],
                      [2.0, 1.0, 2.0],
                      [2.0, 4.5, 2.0]], dtype=torch.float64)


class TableModel(EnsembleModel):
    """Design ``i`` is the 1-d feature ``[i]``; member ``k`` predicts ``TABLE[k, i]``."""

    def __init__(self):
        super().__init__()
        self._num_outputs = 1

    def forward(self, X):
        values = TABLE[:, X[..., 0].long()]  # `s x batch x q`
        return values.movedim(0, -2).unsqueeze(-1)  # `batch x s x q x 1`


def test_ucb_matches_the_hand_computed_botorch_formula():
    X = torch.arange(3, dtype=torch.float64).unsqueeze(-1)
    beta = 2.0
    acqf = make_acquisition(AcquisitionConfig(name="ucb", beta=beta), TableModel(), X,
                            torch.tensor([0.0, 1.0, 2.0]))
    values = acquisition_values(acqf, X)
    mean = TABLE.mean(0)  # 2.0, 1.5, 2.0
    expected = mean + math.sqrt(beta * math.pi / 2) * (TABLE - mean).abs().mean(0)
    torch.testing.assert_close(values, expected)
    assert values.argsort(descending=True).tolist() == [1, 0, 2]  # 1.5 + 2.51 > 2 + 1.25 > 2


def test_mean_and_thompson_are_exact():
    X = torch.arange(3, dtype=torch.float64).unsqueeze(-1)
    y = torch.tensor([0.0, 1.0, 2.0])
    mean = acquisition_values(make_acquisition(AcquisitionConfig(name="mean"), TableModel(), X, y), X)
    torch.testing.assert_close(mean, TABLE.mean(0))
    acqf = make_acquisition(AcquisitionConfig(name="thompson", seed=3), TableModel(), X, y)
    torch.testing.assert_close(acquisition_values(acqf, X), TABLE[acqf.thompson_member])


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="lognei"):
        AcquisitionConfig(name="ei")
    config = AcquisitionConfig()
    with pytest.raises(ValueError, match="thompson"):
        config.name = "ei"
    unchecked = AcquisitionConfig.model_construct(name="ei")  # validation bypassed: refused when built
    with pytest.raises(ValueError, match="thompson"):
        make_acquisition(unchecked, TableModel(), torch.zeros(1, 1), torch.zeros(1))


@pytest.mark.parametrize("name", ACQUISITION_NAMES)
def test_every_acquisition_runs_on_the_fitted_ensemble(fitted, logp_data, name):
    surrogate, _ = fitted
    smiles, labels = logp_data
    train_X = surrogate.features(smiles[:300])
    acqf = make_acquisition(AcquisitionConfig(name=name, seed=0), surrogate.model, train_X,
                            torch.tensor(labels[:300]))
    X = surrogate.features(smiles[300:340])
    values = acquisition_values(acqf, X, chunk=16)
    assert values.shape == (40,) and torch.isfinite(values).all()
    picked = select_batch_greedy_q(acqf, X, q=4)
    assert len(set(picked)) == 4 and getattr(acqf, "X_pending", None) is None


def test_ucb_on_the_fitted_ensemble_matches_its_members(fitted, logp_data):
    surrogate, _ = fitted
    smiles, labels = logp_data
    acqf = make_acquisition(AcquisitionConfig(name="ucb", beta=0.5), surrogate.model,
                            surrogate.features(smiles[:300]), torch.tensor(labels[:300]))
    members = surrogate.members_predict(smiles[300:320])
    mean = members.mean(0)
    expected = mean + math.sqrt(0.5 * math.pi / 2) * (members - mean).abs().mean(0)
    torch.testing.assert_close(acquisition_values(acqf, surrogate.features(smiles[300:320])),
                               expected)


@pytest.mark.parametrize("name", ACQUISITION_NAMES)
@pytest.mark.parametrize("reward", ["acquisition", "rank"])
def test_log_reward_finite_floor_and_monotone(fitted, logp_data, name, reward):
    surrogate, _ = fitted
    smiles, labels = logp_data
    config = AcquisitionConfig(name=name, reward=reward, temperature=0.5, seed=0)
    log_reward = make_log_reward(surrogate, config, smiles[:300], labels[:300])
    designs = smiles[300:330]
    r = log_reward(["", "not_a_smiles"] + designs)
    assert r.shape == (32,) and r.dtype == torch.float64
    assert r[0] == LOG_REWARD_FLOOR and r[1] == LOG_REWARD_FLOOR
    assert torch.isfinite(r).all() and (r >= LOG_REWARD_FLOOR).all()
    if reward == "rank":
        assert (r[2:] <= 0).all() and (r[2:] >= -math.log(301) / 0.5 - 1e-9).all()
    acqf = make_acquisition(config, surrogate.model, surrogate.features(smiles[:300]),
                            torch.tensor(labels[:300]))
    a = acquisition_values(acqf, surrogate.features(designs))
    order = a.argsort()
    assert (r[2:][order].diff() >= -1e-9).all()  # non-decreasing in the acquisition
    torch.testing.assert_close(acquisition_values(log_reward.acquisition, surrogate.features(designs)), a)
    assert log_reward([]).shape == (0,)


def test_ucb_reward_is_standardised_and_divided_by_temperature(fitted, logp_data):
    surrogate, _ = fitted
    smiles, labels = logp_data
    y = torch.tensor(labels[:300], dtype=torch.float64)
    r1 = make_log_reward(surrogate, AcquisitionConfig(name="ucb", temperature=1.0),
                         smiles[:300], labels[:300])(smiles[300:310])
    r2 = make_log_reward(surrogate, AcquisitionConfig(name="ucb", temperature=0.25),
                         smiles[:300], labels[:300])(smiles[300:310])
    torch.testing.assert_close(r2, 4 * r1)
    acqf = make_acquisition(AcquisitionConfig(name="ucb"), surrogate.model,
                            surrogate.features(smiles[:300]), y)
    a = acquisition_values(acqf, surrogate.features(smiles[300:310]))
    torch.testing.assert_close(r1, (a - y.mean()) / y.std())


@pytest.mark.parametrize("name", ["ucb", "logei", "mean"])
def test_greedy_q_picks_distinct_pool_indices_for_duplicate_rows(name):
    # pool rows 0 and 1 are the same design (equal features, e.g. equal fingerprints)
    X = torch.tensor([[1.0], [1.0], [0.0], [2.0], [1.0]], dtype=torch.float64)
    acqf = make_acquisition(AcquisitionConfig(name=name), TableModel(), X[2:4],
                            torch.tensor([0.0, 1.0]))
    picked = select_batch_greedy_q(acqf, X, q=4)
    assert len(picked) == 4 and len(set(picked)) == 4
    if name == "ucb":  # design 1 has the largest UCB (hand-computed above): index 0 first
        assert picked[0] == 0
