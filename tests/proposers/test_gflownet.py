"""GFlowNetProposer in-process (num_actors=0): learning, reproducibility, checkpoints."""

import pytest
import torch
from rdkit import Chem

from sciloop.proposers.base import Proposer
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.trajectories import from_terminal, score


def nitrogen_log_reward(smiles: list[str]) -> torch.Tensor:
    return torch.tensor([2.0 * min(s.count("N") + s.count("n"), 4) for s in smiles])


def small_config(**overrides) -> GFlowNetConfig:
    base = dict(num_actors=0, hidden=64, num_layers=1, max_len=20, lr=3e-3, seed=0)
    return GFlowNetConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def corpus(nci_smiles):
    return nci_smiles[:2000]


def test_is_a_proposer(corpus):
    assert isinstance(GFlowNetProposer.from_corpus(corpus, small_config()), Proposer)


def test_pretrain_lowers_nll(corpus):
    proposer = GFlowNetProposer.from_corpus(corpus, small_config())
    first = proposer.pretrain(1)
    assert proposer.pretrain(30) < first


def test_learns_to_favour_nitrogen(corpus):
    proposer = GFlowNetProposer.from_corpus(corpus, small_config())
    proposer.pretrain(30)
    before = nitrogen_log_reward(proposer.sample(256)).mean().item()
    seen = []
    metrics = proposer.train(nitrogen_log_reward, steps=100,
                             progress=lambda step, m: seen.append(step))
    after = nitrogen_log_reward(proposer.sample(256)).mean().item()
    assert seen == list(range(1, 101))
    assert after > before + 0.5
    assert {"loss", "log_z", "mean_log_reward", "unique_valid"} <= metrics.keys()
    assert 0 < metrics["unique_valid"] <= 64
    assert len(proposer.last_samples) == 256
    assert all(Chem.MolFromSmiles(s) is not None for s in proposer.last_samples)


def test_reward_is_called_once_per_step_on_the_whole_batch(corpus):
    calls = []

    def log_reward(smiles):
        calls.append(list(smiles))
        return torch.zeros(len(smiles))

    proposer = GFlowNetProposer.from_corpus(corpus, small_config(batch_size=16))
    offline = ["CCN", "c1ccncc1", "not-a-molecule"]
    metrics = proposer.train(log_reward, steps=3, offline=offline)
    assert len(calls) == 3 and all(len(c) == 16 for c in calls)
    assert metrics["num_offline"] == 4 and metrics["num_replay"] == 0
    replayed = {Chem.CanonSmiles(s) for s in calls[0][-4:]}
    assert replayed <= {Chem.CanonSmiles("CCN"), Chem.CanonSmiles("c1ccncc1")}


def test_same_seed_same_run(corpus):
    runs = []
    for _ in range(2):
        proposer = GFlowNetProposer.from_corpus(corpus, small_config(seed=5))
        metrics = proposer.train(nitrogen_log_reward, steps=3)
        runs.append((metrics, proposer.sample(20)))
    assert runs[0] == runs[1]
    other = GFlowNetProposer.from_corpus(corpus, small_config(seed=6))
    assert other.sample(20) != runs[0][1]


def test_checkpoint_resumes_exactly(corpus):
    proposer = GFlowNetProposer.from_corpus(corpus, small_config())
    proposer.train(nitrogen_log_reward, steps=2)
    state = proposer.state_dict()
    restored = GFlowNetProposer.from_state_dict(state)
    assert restored.env.alphabet == proposer.env.alphabet
    assert restored.sample(30) == proposer.sample(30)
    m1 = proposer.train(nitrogen_log_reward, steps=2)
    m2 = restored.train(nitrogen_log_reward, steps=2)
    assert m1 == m2
    with pytest.raises(ValueError):
        GFlowNetProposer.from_corpus(["CCO"], small_config()).load_state_dict(state)


def test_a_sequence_proposer_is_rebuilt_from_its_checkpoint():
    from sciloop.proposers.sequence_env import SequenceEnv

    proposer = GFlowNetProposer(SequenceEnv("ACGT", max_len=6, min_len=2), small_config(max_len=6))
    proposer.train(lambda designs: torch.tensor([float(d.count("A")) for d in designs]), steps=1)
    restored = GFlowNetProposer.from_state_dict(proposer.state_dict())
    assert restored.env.state_dict() == proposer.env.state_dict()
    assert restored.sample(10) == proposer.sample(10)


def test_train_restores_torch_threads(corpus):
    threads = torch.get_num_threads()
    GFlowNetProposer.from_corpus(corpus, small_config()).train(nitrogen_log_reward, steps=1)
    assert torch.get_num_threads() == threads


def test_every_draw_goes_through_the_seam(corpus):
    """`_sample_trajectories` is the one place a Ray sampler pool has to replace."""

    class Counting(GFlowNetProposer):
        drawn: list[int] = []

        def _sample_trajectories(self, n, epsilon, temperature=1.0):
            self.drawn.append(n)
            return super()._sample_trajectories(n, epsilon, temperature)

    proposer = Counting(GFlowNetProposer.from_corpus(corpus, small_config()).env,
                        small_config(batch_size=8, replay_fraction=0.25))
    proposer.train(nitrogen_log_reward, steps=3, offline=["CCN"])
    assert len(proposer.sample(5)) == 5
    assert proposer.drawn == [6, 6, 6, 5] and proposer.draws == 4


def test_pretrain_with_prior_weight_freezes_a_prior(corpus):
    proposer = GFlowNetProposer.from_corpus(corpus, small_config(prior_weight=0.5))
    assert proposer.prior is None
    proposer.pretrain(3)
    assert proposer.prior is not None
    assert all(not p.requires_grad for p in proposer.prior.parameters())
    frozen = [p.clone() for p in proposer.prior.parameters()]
    proposer.train(nitrogen_log_reward, steps=2)
    assert all(torch.equal(a, b) for a, b in zip(frozen, proposer.prior.parameters()))


def _save_prior(proposer: GFlowNetProposer, path) -> None:
    """A prior checkpoint as benchmarks/make_prior.py writes it."""
    meta = {"hidden": proposer.config.hidden, "num_layers": proposer.config.num_layers}
    torch.save({"env": proposer.env.state_dict(), "policy": proposer.policy.state_dict(), "meta": meta}, path)


def test_from_prior_starts_from_the_checkpoint_and_freezes_it(corpus, tmp_path):
    made = GFlowNetProposer.from_corpus(corpus, small_config())
    made.pretrain(20)
    _save_prior(made, tmp_path / "prior.pt")
    # a config of another size and length: the checkpoint's environment and GRU size win
    loaded = GFlowNetProposer.from_prior(tmp_path / "prior.pt", small_config(hidden=32, max_len=30, prior_weight=1.0))
    assert loaded.env.state_dict() == made.env.state_dict() and loaded.config.hidden == 64
    env, states = made.env, made.env.from_designs(corpus[:50])  # equal likelihoods under both policies
    dev = made.trainer.device  # where both policies live (`auto`)
    walk = from_terminal(env, states, torch.Generator().manual_seed(1)).to(dev)
    zeros = torch.zeros(len(states), device=dev)
    assert torch.allclose(score(env, made.policy, walk, zeros).log_pf, score(env, loaded.policy, walk, zeros).log_pf)
    assert loaded.prior is not None and all(not p.requires_grad for p in loaded.prior.parameters())
    loaded.train(nitrogen_log_reward, steps=2)  # trains the policy, not the prior
    assert all(torch.equal(p, q) for p, q in zip(loaded.prior.parameters(), made.policy.parameters()))


def test_from_prior_refuses_a_missing_or_foreign_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_prior"):
        GFlowNetProposer.from_prior(tmp_path / "none.pt")
    torch.save({"policy": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a prior checkpoint"):
        GFlowNetProposer.from_prior(tmp_path / "other.pt")
