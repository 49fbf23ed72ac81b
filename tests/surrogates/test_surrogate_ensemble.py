import math

import pytest
import torch
from botorch.posteriors.ensemble import EnsemblePosterior
from scipy.stats import spearmanr

from sciloop.surrogates import EnsembleSurrogate, MorganFeaturizer, VectorisedMLPEnsemble
from sciloop.surrogates.mlp import SparseRows, train_ensemble
from sciloop.surrogates.training import torch_threads


def test_members_differ_and_match_a_looped_reference():
    torch.manual_seed(0)
    net = VectorisedMLPEnsemble(in_dim=7, members=3, hidden=5, layers=2, seed=1)
    X = torch.rand(4, 7)
    out = net(X)
    assert out.shape == (3, 4)
    assert not torch.allclose(out[0], out[1])
    k = 2  # member k as a plain MLP
    w_in = net.w_in.view(7, 3, 5)[:, k]
    h = torch.relu(X @ w_in + net.b_in[k])
    h = torch.relu(h @ net.w_hidden[0][k] + net.b_hidden[0][k])
    torch.testing.assert_close(out[k], (h @ net.w_out[k] + net.b_out[k]).squeeze(-1))


def test_sparse_and_dense_first_layer_agree():
    net = VectorisedMLPEnsemble(in_dim=300, members=2, hidden=8, layers=1)
    X = (torch.rand(6, 300) < 0.02).float() * 1.7
    dense = X @ net.w_in
    rows = SparseRows.from_dense(X)
    torch.testing.assert_close(net(X), net(rows))  # sparse path (density < 10%)
    torch.testing.assert_close(net(rows.select(torch.tensor([4, 1]))), net(X[[4, 1]]))
    assert dense.shape == (6, 16)


def test_uncertainty_grows_away_from_the_data():
    g = torch.Generator().manual_seed(0)
    X = torch.rand(128, 1, generator=g) * 2 - 1
    y = torch.sin(3 * X[:, 0])
    net = VectorisedMLPEnsemble(in_dim=1, members=8, hidden=32, layers=2, seed=0)
    with torch_threads(1):
        stats = train_ensemble(net, X, y, epochs=150, lr=1e-2, batch_size=128, seed=0)
    assert stats["train_rmse"] < 0.2
    with torch.no_grad():
        near = net(torch.linspace(-0.9, 0.9, 50).unsqueeze(-1)).std(0).mean()
        far = net(torch.linspace(4.0, 6.0, 50).unsqueeze(-1)).std(0).mean()
    assert far > 3 * near


def test_fit_ranks_held_out_molecules(fitted, logp_data):
    surrogate, stats = fitted
    smiles, labels = logp_data
    assert stats["n_train"] == 300 and stats["fit_seconds"] > 0 and 0 < stats["steps"] <= 60 * 3
    mean, std = surrogate.predict(smiles[300:])
    assert mean.shape == std.shape == (200,) and mean.dtype == torch.float64
    assert (std > 0).all()
    assert spearmanr(mean.numpy(), labels[300:]).statistic > 0.6


def test_botorch_posterior_shapes_and_original_units(fitted, logp_data):
    surrogate, _ = fitted
    smiles, labels = logp_data
    X = surrogate.features(smiles[300:306])
    posterior = surrogate.model.posterior(X.view(2, 3, -1))
    assert isinstance(posterior, EnsemblePosterior)
    assert posterior.values.shape == (2, 5, 3, 1)
    assert posterior.mean.shape == posterior.variance.shape == (2, 3, 1)
    assert surrogate.model.num_outputs == 1
    members = surrogate.members_predict(smiles[300:306])
    assert members.shape == (5, 6)
    torch.testing.assert_close(posterior.mean.reshape(-1), members.mean(0))
    torch.testing.assert_close(posterior.variance.reshape(-1), members.var(0))
    train_mean, _ = surrogate.predict(smiles[:300])  # un-standardised: near the labels
    assert abs(float(train_mean.mean()) - sum(labels[:300]) / 300) < 0.5


def test_state_dict_round_trip(fitted, logp_data, tmp_path):
    surrogate, _ = fitted
    smiles, _ = logp_data
    torch.save(surrogate.state_dict(), tmp_path / "surrogate.pt")
    restored = EnsembleSurrogate(MorganFeaturizer())
    assert not restored.is_fitted
    restored.load_state_dict(torch.load(tmp_path / "surrogate.pt"))
    assert restored.config == surrogate.config
    torch.testing.assert_close(restored.members_predict(smiles[300:320]),
                               surrogate.members_predict(smiles[300:320]))


def test_fit_input_errors():
    surrogate = EnsembleSurrogate(MorganFeaturizer())
    with pytest.raises(RuntimeError):
        _ = surrogate.model
    with pytest.raises(ValueError, match="labels"):
        surrogate.fit(["CCO", "CCN"], [1.0])
    with pytest.raises(ValueError, match="finite"):
        surrogate.fit(["CCO", "CCN"], [1.0, math.nan])
    with pytest.raises(ValueError, match="xyz"):
        surrogate.fit(["CCO", "xyz"], [1.0, 2.0])
