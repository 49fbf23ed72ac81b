import pickle

import numpy as np
import pytest
import torch

from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator

from sciloop.surrogates import MorganFeaturizer, tanimoto_matrix
from sciloop.surrogates.featurizers import MorganAtomPairFeaturizer


def test_shape_dtype_and_cache_hit():
    f = MorganFeaturizer(radius=2, n_bits=1024)
    X1 = f(["CCO", "c1ccccc1"])
    assert X1.shape == (2, 1024) and X1.dtype == torch.float64
    entry = f._sparse_cache["CCO"]
    X2 = f(["CCO", "c1ccccc1"])
    assert torch.equal(X1, X2)
    assert f._sparse_cache["CCO"] is entry  # served from the cache, not recomputed
    assert f(["CCO"]).shape == (1, 1024) and f([]).shape == (0, 1024)


def test_counts_versus_bits():
    counts = MorganFeaturizer(counts=True)(["CCCCCC"])
    bits = MorganFeaturizer(counts=False)(["CCCCCC"])
    assert set(bits.unique().tolist()) == {0.0, 1.0}
    assert counts.max() > np.log1p(1)  # repeated CH2 environments counted, log1p-transformed


@pytest.mark.parametrize("bad", ["not_a_smiles", "", "C1CC"])
def test_invalid_smiles_raise_naming_the_design(bad):
    f = MorganFeaturizer()
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        f(["CCO", bad])
    with pytest.raises(ValueError):
        f.bit_fingerprints([bad])
    assert not f.is_valid(bad) and f.is_valid("CCO")


def test_pickle_round_trip():
    f = MorganFeaturizer(radius=3, n_bits=512, counts=False)
    X = f(["CCO", "CCN"])
    g = pickle.loads(pickle.dumps(f))
    assert (g.radius, g.n_bits, g.counts) == (3, 512, False)
    assert torch.equal(g(["CCO", "CCN"]), X)


def test_bit_fingerprints_and_tanimoto():
    f = MorganFeaturizer()
    fps = f.bit_fingerprints(["CCO", "CCO", "c1ccccc1"])
    assert f.bit_fingerprints(["CCO"])[0] is fps[0]
    S = tanimoto_matrix(fps, fps[:2])
    assert S.shape == (3, 2)
    assert S[0, 1] == pytest.approx(1.0) and S[2, 0] < 0.2
    assert tanimoto_matrix(fps, []).shape == (3, 0)


@pytest.mark.parametrize("counts", [True, False])
def test_atom_pair_features_follow_the_morgan_ones(counts):
    smiles = ["CCO", "c1ccc(O)cc1CCN", "CC(C)(C)c1ccccc1C(=O)O"]
    both, morgan = MorganAtomPairFeaturizer(n_bits=512, counts=counts), MorganFeaturizer(n_bits=512, counts=counts)
    X = both(smiles)
    assert X.shape == (3, 1024) and both.dim == 1024 and both.blocks == (512, 512) and morgan.blocks == (512,)
    assert torch.equal(X[:, :512], morgan(smiles))
    pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=512)
    for row, smi in zip(X, smiles):  # rdkit's atom-pair fingerprint, log1p counts or bits, after Morgan's
        expected = torch.zeros(512, dtype=torch.float64)
        if counts:
            for bit, n in pairs.GetCountFingerprint(Chem.MolFromSmiles(smi)).GetNonzeroElements().items():
                expected[bit] = np.log1p(n)
        else:
            expected[list(pairs.GetFingerprint(Chem.MolFromSmiles(smi)).GetOnBits())] = 1.0
        assert torch.equal(row[512:], expected)
    assert [a.ToBitString() for a in both.bit_fingerprints(smiles)] == [  # similarity stays Morgan's
        b.ToBitString() for b in morgan.bit_fingerprints(smiles)]
    again = pickle.loads(pickle.dumps(both))
    assert again._pairs is None and torch.equal(again(smiles), X) and repr(again).startswith("MorganAtomPair")
