import pytest
import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from scipy.stats import spearmanr

from sciloop.surrogates import (
    ACQUISITION_NAMES,
    AcquisitionConfig,
    EnsembleConfig,
    EnsembleSurrogate,
    MorganFeaturizer,
    acquisition_values,
    make_acquisition,
    make_log_reward,
    select_batch_greedy_q,
)
from sciloop.surrogates.acquisition import _MAX_ELEMENTS, chunk_size
from sciloop.surrogates.members import make_surrogate
from sciloop.surrogates.featurizers import MorganAtomPairFeaturizer
from sciloop.surrogates.gp import TanimotoGPSurrogate, TanimotoKernel, tanimoto_kernel

GP = EnsembleConfig(member="gp", num_threads=1, seed=0)


@pytest.fixture(scope="module")
def gp(logp_data) -> tuple[TanimotoGPSurrogate, dict]:
    smiles, labels = logp_data
    surrogate = make_surrogate(MorganFeaturizer(), GP)
    return surrogate, surrogate.fit(smiles[:300], labels[:300])


def test_tanimoto_kernel_matches_rdkit_on_bit_fingerprints(logp_data):
    smiles, _ = logp_data
    featurizer = MorganFeaturizer(counts=False)
    X = featurizer(smiles[:12])
    K = TanimotoKernel()(X, X[:5]).to_dense()
    fps = featurizer.bit_fingerprints(smiles[:12])
    expected = torch.tensor([DataStructs.BulkTanimotoSimilarity(fp, fps[:5]) for fp in fps],
                            dtype=torch.float64)
    torch.testing.assert_close(K, expected)
    torch.testing.assert_close(TanimotoKernel()(X, X, diag=True), torch.ones(12, dtype=torch.float64))


def test_tanimoto_kernel_batches_and_hand_computed_counts():
    x1 = torch.tensor([[1.0, 2.0, 0.0]], dtype=torch.float64)
    x2 = torch.tensor([[1.0, 0.0, 3.0], [1.0, 2.0, 0.0]], dtype=torch.float64)
    K = TanimotoKernel()(x1, x2).to_dense()  # <x1, x2> / (|x1|^2 + |x2|^2 - <x1, x2>)
    torch.testing.assert_close(K, torch.tensor([[1 / (5 + 10 - 1), 1.0]], dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    A = (torch.rand(4, 3, 50, generator=g) < 0.05).double()  # sparse `b x q x d`
    B = torch.rand(7, 50, generator=g, dtype=torch.float64)
    K = TanimotoKernel()(A, B).to_dense()
    assert K.shape == (4, 3, 7)
    torch.testing.assert_close(K[2], TanimotoKernel()(A[2], B).to_dense())
    torch.testing.assert_close(TanimotoKernel()(B, A).to_dense(), K.mT)


def test_gp_ranks_held_out_molecules_and_has_a_gaussian_posterior(gp, logp_data):
    surrogate, stats = gp
    smiles, labels = logp_data
    assert isinstance(surrogate, TanimotoGPSurrogate) and stats["n_train"] == 300
    assert stats["noise"] > 0 and stats["fit_seconds"] > 0
    mean, std = surrogate.predict(smiles[300:])
    assert mean.shape == std.shape == (200,) and (std > 0).all()
    assert spearmanr(mean.numpy(), labels[300:]).statistic > 0.7
    posterior = surrogate.model.posterior(surrogate.features(smiles[300:306]).view(2, 3, -1))
    assert isinstance(posterior, GPyTorchPosterior)
    assert posterior.mean.shape == posterior.variance.shape == (2, 3, 1)
    latent = surrogate.model.marginals(surrogate.features(smiles[300:306]))[1]
    torch.testing.assert_close(posterior.variance.reshape(-1), latent)
    assert (std[:6] ** 2 > latent).all()  # the predictive spread adds the label noise


@pytest.mark.parametrize("name", ACQUISITION_NAMES)
def test_every_acquisition_runs_on_the_gp(gp, logp_data, name):
    surrogate, _ = gp
    smiles, labels = logp_data
    train_X = surrogate.features(smiles[:300])
    config = AcquisitionConfig(name=name, seed=0, mc_samples=32)
    acqf = make_acquisition(config, surrogate.model, train_X, torch.tensor(labels[:300]))
    X = surrogate.features(smiles[300:316])
    values = acquisition_values(acqf, X, chunk=8)
    assert values.shape == (16,) and torch.isfinite(values).all()
    torch.testing.assert_close(values, acquisition_values(acqf, X))  # fixed base samples
    picked = select_batch_greedy_q(acqf, X, q=2)
    assert len(set(picked)) == 2
    r = make_log_reward(surrogate, config, smiles[:300], labels[:300])(["", *smiles[300:305]])
    assert r.shape == (6,) and torch.isfinite(r).all()


def test_gp_mean_acquisition_is_the_posterior_mean(gp, logp_data):
    surrogate, _ = gp
    smiles, labels = logp_data
    acqf = make_acquisition(AcquisitionConfig(name="mean"), surrogate.model,
                            surrogate.features(smiles[:300]), torch.tensor(labels[:300]))
    X = surrogate.features(smiles[300:320])
    mean, var = surrogate.model.marginals(X)
    # a quasi-Monte Carlo average of 128 draws: the mean up to a small sampling error
    assert ((acquisition_values(acqf, X) - mean).abs() < 0.05 * var.sqrt()).all()


def test_gp_label_cap_raises_or_subsamples(logp_data):
    smiles, labels = logp_data
    capped = EnsembleConfig(member="gp", gp_max_labels=40, num_threads=1)
    with pytest.raises(ValueError, match="gp_subsample"):
        TanimotoGPSurrogate(MorganFeaturizer(), capped).fit(smiles[:41], labels[:41])
    capped.gp_subsample = True
    surrogate = TanimotoGPSurrogate(MorganFeaturizer(), capped)
    stats = surrogate.fit(smiles[:60], labels[:60])
    assert stats["n_train"] == 40
    best = sorted(labels[:60], reverse=True)[:20]  # the best half is always kept, the rest drawn
    assert set(best) <= set(surrogate._y) and len(set(surrogate._y) - set(best)) == 20
    again = TanimotoGPSurrogate(MorganFeaturizer(), capped)
    again.fit(smiles[:60], labels[:60])
    assert again._designs == surrogate._designs  # seeded
    capped.seed = 1
    again.fit(smiles[:60], labels[:60])
    assert again._designs != surrogate._designs and set(best) <= set(again._y)


def test_a_warm_gp_refit_starts_from_the_last_hyper_parameters(logp_data):
    """A warm refit takes at most `warm_max_steps` L-BFGS iterations from the last fit's mean,
    scale and noise (a cold fit of the same labels starts from GPyTorch's defaults and moves
    far), and standardises the new labels afresh."""
    smiles, labels = logp_data
    config = EnsembleConfig(member="gp", num_threads=1, warm_max_steps=1)
    surrogate = TanimotoGPSurrogate(MorganFeaturizer(), config)
    first = surrogate.fit(smiles[:150], labels[:150])
    shifted = [v + 100.0 for v in labels[:200]]  # only the standardisation can absorb this
    warm = surrogate.fit(smiles[:200], shifted, warm=True)
    cold = TanimotoGPSurrogate(MorganFeaturizer(), config.model_copy()).fit(smiles[:200], shifted)
    assert warm["n_train"] == 200  # one step from the last fit stays near it; the cold fit moves away
    assert abs(warm["outputscale"] - first["outputscale"]) < 0.5 * abs(cold["outputscale"] - first["outputscale"])
    mean, _ = surrogate.predict(smiles[200:220])
    assert (mean - 100.0 - torch.tensor(labels[200:220], dtype=torch.float64)).abs().mean() < 2.0
    config.warm_max_steps = 20  # enough steps: the same optimum as the cold fit
    surrogate.fit(smiles[:150], labels[:150])
    converged = surrogate.fit(smiles[:200], shifted, warm=True)
    assert converged["outputscale"] == pytest.approx(cold["outputscale"], rel=1e-3)


def test_gp_state_dict_round_trip(gp, logp_data, tmp_path):
    surrogate, _ = gp
    smiles, _ = logp_data
    torch.save(surrogate.state_dict(), tmp_path / "gp.pt")
    restored = make_surrogate(MorganFeaturizer(), GP)
    restored.load_state_dict(torch.load(tmp_path / "gp.pt"))
    for a, b in zip(restored.predict(smiles[300:320]), surrogate.predict(smiles[300:320])):
        torch.testing.assert_close(a, b)


def test_make_surrogate_picks_the_kind():
    assert isinstance(make_surrogate(MorganFeaturizer(), EnsembleConfig()), EnsembleSurrogate)
    with pytest.raises(ValueError, match="make_surrogate"):
        EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig(member="gp")).fit(["CCO", "CCN"],
                                                                                [1.0, 2.0])


def test_gp_acquisition_chunks_count_the_training_rows(gp, logp_data):
    surrogate, _ = gp
    smiles, labels = logp_data
    train_X, y = surrogate.features(smiles[:300]), torch.tensor(labels[:300])
    acqf = make_acquisition(AcquisitionConfig(name="lognei", seed=0), surrogate.model, train_X, y)
    # GPyTorch joins the 300 training rows (and the baseline) to every design: a 1,024-design chunk
    # was 5 GB of features
    joined = 1 + 300 + acqf.X_baseline.shape[-2]
    assert chunk_size(acqf, train_X.shape[1]) * joined * train_X.shape[1] <= _MAX_ELEMENTS
    ucb = make_acquisition(AcquisitionConfig(name="ucb", seed=0), surrogate.model, train_X, y)
    assert chunk_size(ucb, train_X.shape[1]) == 1024  # a lone design is scored from its marginal


@pytest.mark.parametrize("observation_noise", [False, True])
def test_a_lone_design_is_scored_from_its_marginal_as_in_the_joint_posterior(gp, logp_data, observation_noise):
    """`TanimotoGP.posterior` at `b x 1 x d` (q = 1, as `acquisition_values` scores) takes each
    design's marginal in one pass (100x faster at 1,000 labels): the same mean and variance as
    the joint posterior of the `b` designs (GPyTorch's own path, at `1 x b x d`)."""
    surrogate, _ = gp
    smiles, _ = logp_data
    X = surrogate.features(smiles[300:340])
    alone = surrogate.model.posterior(X.unsqueeze(-2), observation_noise=observation_noise)
    joint = surrogate.model.posterior(X.unsqueeze(0), observation_noise=observation_noise)
    assert alone.mean.shape == (40, 1, 1) and joint.mean.shape == (1, 40, 1)
    torch.testing.assert_close(alone.mean.reshape(-1), joint.mean.reshape(-1))
    torch.testing.assert_close(alone.variance.reshape(-1), joint.variance.reshape(-1))


def test_lognei_on_a_gp_is_repeatable_whatever_torchs_global_stream():
    """qLogNEI prunes its baseline with a sampler of its own, drawn from torch's global stream:
    with 40 near-equal best labels, which rows survived (and so every value) changed with it."""
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.kernels import ScaleKernel

    from sciloop.surrogates.gp import TanimotoGP

    g = torch.Generator().manual_seed(0)

    def fingerprints(m):
        X = torch.zeros(m, 256, dtype=torch.float64)
        counts = torch.rand(m, 20, dtype=torch.float64, generator=g) + 0.5
        return X.scatter_(1, torch.randint(256, (m, 20), generator=g), counts)

    X = fingerprints(150)
    y = (torch.arange(150) < 40).double() + 0.3 * torch.randn(150, dtype=torch.float64, generator=g)
    model = TanimotoGP(X, y.reshape(-1, 1), covar_module=ScaleKernel(TanimotoKernel()),
                       outcome_transform=Standardize(m=1)).eval()
    pool, values = fingerprints(200), []
    for global_seed in (1, 2, 3):
        torch.manual_seed(global_seed)
        values.append(acquisition_values(make_acquisition(AcquisitionConfig(name="lognei", seed=7), model, X, y), pool))
    torch.testing.assert_close(values[0], values[1])
    torch.testing.assert_close(values[0], values[2])


def test_a_gp_on_two_fingerprints_weighs_the_one_that_explains_the_labels(logp_data):
    smiles, _ = logp_data
    pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=2048)
    reference = pairs.GetCountFingerprint(Chem.MolFromSmiles(smiles[0]))
    y = [DataStructs.TanimotoSimilarity(reference, pairs.GetCountFingerprint(Chem.MolFromSmiles(s)))
         for s in smiles]  # an atom-pair similarity objective, as PMO's mestranol_similarity
    both, morgan = (make_surrogate(f, GP) for f in (MorganAtomPairFeaturizer(), MorganFeaturizer()))
    stats = both.fit(smiles[:200], y[:200])
    morgan.fit(smiles[:200], y[:200])
    scales = [float(k.outputscale.detach()) for k in both.model.covar_module.kernels]
    assert scales[1] > 3 * scales[0] and stats["outputscale"] == pytest.approx(sum(scales))
    rank = {name: spearmanr(s.predict(smiles[200:])[0], y[200:]).statistic
            for name, s in (("both", both), ("morgan", morgan))}
    assert rank["both"] > rank["morgan"] + 0.02, rank  # measured: 0.985 against 0.952
    # one block is today's kernel, unchanged: a campaign of Morgan features keeps its fits
    assert type(tanimoto_kernel((2048,))) is type(morgan.model.covar_module) and not hasattr(
        morgan.model.covar_module, "kernels")
    warm = both.fit(smiles[:220], y[:220], warm=False)  # and the two-block GP refits and restores
    restored = make_surrogate(MorganAtomPairFeaturizer(), GP)
    restored.load_state_dict(both.state_dict())
    torch.testing.assert_close(restored.predict(smiles[300:310])[0], both.predict(smiles[300:310])[0])
    assert warm["n_train"] == 220
