import pickle

import pytest
import torch
from botorch.posteriors.ensemble import EnsemblePosterior
from sciloop.surrogates import (
    ACQUISITION_NAMES,
    LOG_REWARD_FLOOR,
    AcquisitionConfig,
    EnsembleConfig,
    EnsembleSurrogate,
    GraphFeaturizer,
    MorganFeaturizer,
    acquisition_values,
    make_acquisition,
    make_log_reward,
    select_batch_greedy_q,
)
from sciloop.surrogates.graphs import ATOM_VOCAB, BOND_DIM
from scipy.stats import spearmanr

TINY_GNN = EnsembleConfig(member="gnn", members=4, hidden=16, layers=2, epochs=40, lr=3e-3,
                          batch_size=64, patience=5, seed=0, num_threads=1)


def test_graph_table_is_cached_by_design_and_collates():
    f = GraphFeaturizer()
    X = f(["CCO", "c1ccccc1", "CCO"])
    assert X.dtype == torch.float64 and X.shape == (3, 1)
    assert X[:, 0].tolist() == [0.0, 1.0, 0.0] and len(f) == 2
    g = f.batch(torch.tensor([1, 0]))
    assert g.num_graphs == 2 and g.x.shape == (9, 7)
    assert g.edge_index.shape == (2, 2 * (6 + 2)) and g.edge_attr.shape == (16, BOND_DIM)
    assert int(g.x.max()) < ATOM_VOCAB and g.batch.tolist() == [0] * 6 + [1] * 3
    assert int(g.edge_index[:, 12:].min()) == 6  # the second graph's atoms are offset
    with pytest.raises(ValueError, match="not_a_smiles"):
        f(["CCO", "not_a_smiles"])
    assert not f.is_valid("") and f(["[Na+].[Cl-]"]).shape == (1, 1)  # no bonds is fine
    g2 = pickle.loads(pickle.dumps(f))  # the table travels with it: indices stay valid
    assert g2(["c1ccccc1"]).item() == 1.0 and len(g2) == len(f)


@pytest.fixture(scope="module")
def gnn_fitted(logp_data):
    smiles, labels = logp_data
    surrogate = EnsembleSurrogate(GraphFeaturizer(), TINY_GNN)
    stats = surrogate.fit(smiles[:200], labels[:200])
    return surrogate, stats


def test_gnn_surrogate_learns_and_is_a_botorch_ensemble(gnn_fitted, logp_data):
    surrogate, stats = gnn_fitted
    smiles, labels = logp_data
    assert stats["n_train"] == 200 and stats["epochs"] <= 40 and stats["fit_seconds"] > 0
    mean, std = surrogate.predict(smiles[300:400])
    assert mean.shape == std.shape == (100,) and (std > 0).all()
    assert spearmanr(mean.numpy(), labels[300:400]).statistic > 0.3
    # atoms permuted (a non-canonical SMILES of the same molecule): same prediction
    m1, _ = surrogate.predict(["CC(=O)Nc1ccc(O)cc1", "Oc1ccc(NC(C)=O)cc1"])
    torch.testing.assert_close(m1[0], m1[1], atol=1e-5, rtol=1e-5)
    posterior = surrogate.model.posterior(surrogate.features(smiles[300:306]).view(2, 3, 1))
    assert isinstance(posterior, EnsemblePosterior) and posterior.values.shape == (2, 4, 3, 1)


@pytest.mark.parametrize("name", ACQUISITION_NAMES)
def test_every_acquisition_runs_on_the_gnn_ensemble(gnn_fitted, logp_data, name):
    surrogate, _ = gnn_fitted
    smiles, labels = logp_data
    config = AcquisitionConfig(name=name, seed=0)
    acqf = make_acquisition(config, surrogate.model, surrogate.features(smiles[:200]),
                            torch.tensor(labels[:200]))
    pool = smiles[300:320] + smiles[300:302]  # two designs repeated: distinct indices anyway
    X = surrogate.features(pool)
    values = acquisition_values(acqf, X, chunk=8)
    assert values.shape == (22,) and torch.isfinite(values).all()
    torch.testing.assert_close(values[20:], values[:2])
    picked = select_batch_greedy_q(acqf, X, q=4)
    assert len(set(picked)) == 4
    r = make_log_reward(surrogate, config, smiles[:200], labels[:200])(["", "C1CC"] + pool)
    assert (r[:2] == LOG_REWARD_FLOOR).all() and torch.isfinite(r).all()


def test_state_dict_round_trip_gnn(gnn_fitted, logp_data):
    surrogate, _ = gnn_fitted
    smiles, _ = logp_data
    restored = EnsembleSurrogate(surrogate.featurizer)
    restored.load_state_dict(surrogate.state_dict())
    assert restored.config.member == "gnn"
    torch.testing.assert_close(restored.members_predict(smiles[300:310]),
                               surrogate.members_predict(smiles[300:310]))


def test_member_needs_its_featurizer():
    with pytest.raises(TypeError, match="GraphFeaturizer"):
        EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig(member="gnn")).fit(
            ["CCO", "CCN"], [1.0, 2.0])
    with pytest.raises(ValueError, match="cnn"):
        EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig(member="rnn")).fit(
            ["CCO", "CCN"], [1.0, 2.0])
