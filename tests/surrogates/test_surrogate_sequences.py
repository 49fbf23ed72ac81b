import random

import pytest
import torch
from sciloop.surrogates import (
    ACQUISITION_NAMES,
    AcquisitionConfig,
    EnsembleConfig,
    EnsembleSurrogate,
    SequenceFeaturizer,
    acquisition_values,
    make_acquisition,
)
from scipy.stats import spearmanr


def test_token_ids_padding_one_hot_and_errors():
    f = SequenceFeaturizer("ACGT", max_len=5)
    X = f(["ACG", "TTTTT"])
    assert X.dtype == torch.float64 and X.tolist() == [[1, 2, 3, 0, 0], [4, 4, 4, 4, 4]]
    assert f(["ACG"]) is not None and f._cache["ACG"] is f._cache["ACG"]
    oh = f.one_hot(["AC"])
    assert oh.shape == (1, 5, 4) and oh[0, 0].tolist() == [1, 0, 0, 0] and oh[0, 2].sum() == 0
    for bad in ["", "ACGX", "ACGTAC"]:
        with pytest.raises(ValueError, match=repr(bad)):
            f([bad])
    s = SequenceFeaturizer(["[C]", "[O]", "[=C]"], max_len=4, selfies=True)
    assert s(["[C][=C][O]"]).tolist() == [[1, 3, 2, 0]]
    assert not s.is_valid("C[O]")


def _count_a(n, letters, rng, length=12):
    seqs = ["".join(rng.choice(letters) for _ in range(rng.randint(4, length)))
            for _ in range(n)]
    return seqs, [float(s.count("A")) - 0.5 * s.count("C") for s in seqs]


@pytest.fixture(scope="module")
def cnn_fitted():
    rng = random.Random(0)
    seqs, y = _count_a(400, "ACGT", rng)
    f = SequenceFeaturizer("ACGT", max_len=12)
    config = EnsembleConfig(member="cnn", members=5, hidden=16, layers=1, epochs=60, lr=3e-3,
                            batch_size=64, patience=8, seed=0, num_threads=1)
    surrogate = EnsembleSurrogate(f, config)
    surrogate.fit(seqs[:300], y[:300])
    return surrogate, seqs, y


def test_cnn_ranks_held_out_sequences(cnn_fitted):
    surrogate, seqs, y = cnn_fitted
    mean, std = surrogate.predict(seqs[300:])
    assert spearmanr(mean.numpy(), y[300:]).statistic > 0.7 and (std > 0).all()


@pytest.mark.parametrize("name", ACQUISITION_NAMES)
def test_every_acquisition_runs_on_the_cnn_ensemble(cnn_fitted, name):
    surrogate, seqs, y = cnn_fitted
    acqf = make_acquisition(AcquisitionConfig(name=name, seed=0), surrogate.model,
                            surrogate.features(seqs[:300]), torch.tensor(y[:300]))
    values = acquisition_values(acqf, surrogate.features(seqs[300:330]))
    assert values.shape == (30,) and torch.isfinite(values).all()


def test_cnn_std_grows_away_from_the_training_data():
    rng = random.Random(1)
    seqs, y = _count_a(200, "AC", rng)  # trained on A/C only
    surrogate = EnsembleSurrogate(SequenceFeaturizer("ACGT", max_len=12), EnsembleConfig(
        member="cnn", members=5, hidden=16, layers=1, epochs=40, lr=3e-3, batch_size=64,
        seed=0, num_threads=1))
    surrogate.fit(seqs, y)
    near, _ = _count_a(50, "AC", rng)
    far, _ = _count_a(50, "GT", rng)
    _, std_near = surrogate.predict(near)
    _, std_far = surrogate.predict(far)
    assert float(std_far.mean()) > 2 * float(std_near.mean())
