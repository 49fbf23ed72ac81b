import torch

from sciloop.surrogates import MorganFeaturizer, select_batch, tanimoto_matrix

POOL = ["CCO", "CCO", "CCCO", "c1ccccc1", "c1ccccc1C", "CC(=O)O", "CCN", "CCCCCCCC"]


def test_distinct_indices_top_q():
    fps = MorganFeaturizer().bit_fingerprints(POOL)
    acq = torch.tensor([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0])
    assert select_batch(acq, fps, q=3) == [0, 1, 2]  # equal fingerprints: two distinct picks
    assert select_batch(acq, fps, q=20) == list(range(8))
    assert select_batch(acq, fps, q=0) == []


def test_nan_values_go_last():
    fps = MorganFeaturizer().bit_fingerprints(POOL[:3])
    assert select_batch(torch.tensor([float("nan"), 1.0, 2.0]), fps, q=3) == [2, 1, 0]


def test_min_distance_respected_and_duplicates_excluded():
    fps = MorganFeaturizer().bit_fingerprints(POOL)
    acq = torch.tensor([5.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0])
    picked = select_batch(acq, fps, q=4, min_distance=0.6)
    assert len(set(picked)) == 4
    assert 0 in picked and 1 not in picked  # the duplicate is at distance 0
    S = tanimoto_matrix([fps[i] for i in picked], [fps[i] for i in picked])
    off_diagonal = S[~torch.eye(4, dtype=torch.bool).numpy()]
    assert (1 - off_diagonal >= 0.6).all()


def test_exhausted_constraint_fills_by_acquisition_order():
    fps = MorganFeaturizer().bit_fingerprints(["CCO"] * 4)
    picked = select_batch(torch.tensor([1.0, 4.0, 3.0, 2.0]), fps, q=3, min_distance=0.5)
    assert picked == [1, 2, 3]
