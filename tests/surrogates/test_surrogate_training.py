import pytest
import torch
from sciloop.surrogates import (
    CNNEnsemble,
    GINEEnsemble,
    GraphFeaturizer,
    SequenceFeaturizer,
    TrainConfig,
    VectorisedMLPEnsemble,
    train_members,
)
from sciloop.surrogates.mlp import train_ensemble
from sciloop.surrogates.training import torch_threads


def _nets():
    graphs = GraphFeaturizer()
    seqs = SequenceFeaturizer("ACGT", max_len=8)
    return [
        (VectorisedMLPEnsemble(in_dim=6, members=3, hidden=4, layers=2, seed=0),
         torch.rand(5, 6)),
        (GINEEnsemble(graphs, members=3, hidden=4, layers=2, seed=0),
         graphs(["CCO", "c1ccccc1O", "CC(=O)N", "C", "CCCl"])),
        (CNNEnsemble(seqs, members=3, hidden=4, layers=2, seed=0),
         seqs(["ACGT", "GG", "TTTTACGA", "A", "CAT"])),
    ]


@pytest.mark.parametrize("net,X", _nets(), ids=["mlp", "gnn", "cnn"])
def test_members_are_independent_through_member_view(net, X):
    with torch.no_grad():
        before = net(X)
        assert before.shape == (3, 5) and not torch.allclose(before[0], before[1])
        for name, p in net.named_parameters():
            view = net.member_view(name, p)
            assert view.shape[0] == 3 and view.data_ptr() == p.data_ptr()
            view[1] += 0.5  # perturb member 1 only
        after = net(X)
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])
    assert not torch.allclose(after[1], before[1])


def _noisy_problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, generator=g) * 2 - 1
    y = torch.sin(3 * X[:, 0]) + 0.5 * torch.randn(n, generator=g)
    return X, y


def test_early_stopping_stops_and_restores_each_members_best():
    X, y = _noisy_problem()
    net = VectorisedMLPEnsemble(in_dim=1, members=4, hidden=64, layers=2, seed=0)
    with torch_threads(1):  # 2 threads on a loaded 2-core machine were 30x slower
        stats = train_ensemble(net, X, y, epochs=300, lr=3e-2, batch_size=32, patience=5)
    assert stats["epochs"] < 300  # stopped early
    assert 1 <= stats["best_epoch"] < stats["epochs"]
    # the restored weights are the best seen: re-evaluate each member's out-of-bag MSE
    g = torch.Generator().manual_seed(1)
    w = torch.poisson(torch.ones(4, 256, dtype=y.dtype), generator=g)
    rows = torch.randperm(256, generator=g)[:2048]
    mask = w[:, rows] == 0
    with torch.no_grad():
        err = (net(X[rows]).double() - y[rows].double()) ** 2
    val = (err * mask).sum(-1) / mask.sum(-1)
    assert float(val.mean()) == pytest.approx(stats["val_mse"], rel=1e-4)


def test_no_patience_trains_every_epoch_and_max_steps_caps():
    X, y = _noisy_problem(64)
    net = VectorisedMLPEnsemble(in_dim=1, members=2, hidden=8, layers=1)
    stats = train_ensemble(net, X, y, epochs=7, batch_size=16, patience=None)
    assert stats["epochs"] == 7 and stats["steps"] == 28
    assert stats["val_mse"] != stats["val_mse"]  # NaN: no validation
    stats = train_ensemble(net, X, y, epochs=7, batch_size=16, max_steps=10)
    assert stats["steps"] == 10 and stats["epochs"] == 3


def test_shared_split_without_bootstrap_is_held_out_of_training():
    X, y = _noisy_problem(100)
    net = VectorisedMLPEnsemble(in_dim=1, members=2, hidden=8, layers=1)
    seen = []
    cfg = TrainConfig(epochs=2, batch_size=100, bootstrap=False, patience=5, val_fraction=0.2)

    def forward_rows(idx):
        seen.append(idx.clone())
        return net(X[idx])

    stats = train_members(net, forward_rows, y, cfg)
    assert stats["epochs"] == 2
    g = torch.Generator().manual_seed(1)
    held_out = torch.randperm(100, generator=g)[:20]
    assert len(seen[1]) == 20 and set(seen[1].tolist()) == set(held_out.tolist())


def test_torch_threads_restores_the_setting():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
