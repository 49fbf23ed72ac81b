"""The GA proposer breeds on a reward without spending it; the mixture splits its pools."""

import torch
from rdkit import Chem
from rdkit.Chem import QED

from sciloop.pipeline.domain import load_library
from sciloop.proposers.genetic import GeneticConfig, GeneticProposer, MixtureProposer


def log_qed(designs):
    return torch.tensor([torch.log(torch.tensor(QED.qed(Chem.MolFromSmiles(d)))).item() for d in designs])


def test_ga_breeds_better_children_than_its_seeds():
    library = load_library("nci")
    seeds = library[:60]
    ga = GeneticProposer(library, GeneticConfig(population_size=40, offspring_size=30, seed=1))
    stats = ga.train(log_qed, steps=8, offline=seeds)
    assert stats["generations"] == 8 and stats["children"] > 50
    pool = ga.sample(40)
    assert len(pool) == len(set(pool)) == 40
    assert not set(pool) & {Chem.CanonSmiles(s) for s in seeds}  # children, not the parents
    assert log_qed(pool).mean() > log_qed(seeds[:40]).mean()
    assert ga.sample(40) != pool  # a fresh reward-weighted draw each time


def test_mixture_splits_each_pool():
    class Fixed:
        def __init__(self, tag):
            self.tag, self.trained = tag, 0

        def train(self, log_reward_fn, steps, offline=(), progress=None):
            self.trained = steps
            return {"loss": 1.0}

        def sample(self, n):
            return [f"{self.tag}{i}" for i in range(n)]

        def state_dict(self):
            return {"trained": self.trained}

        def load_state_dict(self, state):
            self.trained = state["trained"]

    mix = MixtureProposer({"a": Fixed("a"), "b": Fixed("b")}, {"a": 3, "b": 1}, {"a": 5, "b": 2})
    assert mix.train(log_qed, steps=99) == {"a_loss": 1.0, "b_loss": 1.0}
    assert (mix.parts["a"].trained, mix.parts["b"].trained) == (5, 2)
    pool = mix.sample(10)
    assert sum(d.startswith("a") for d in pool) == 8 and len(pool) == 10
    assert mix.state_dict() == {"a": {"trained": 5}, "b": {"trained": 2}}
