"""A fixture plugin: a proposer reached from a config by `module:Class` alone.

Each round it ranks the library designs no one has labelled by the campaign's reward and offers
the best: a reward-guided screen, one new file, no registration line
(`proposer.name: proposer_plugin:RewardScreen`).
"""

import torch


class RewardScreen:
    """The unlabelled library, best log-reward first; counts its `train` calls (the test reads them)."""

    trains = 0

    def __init__(self, config, library):
        self.library = list(library)
        self.ranked: list[str] = []

    def train(self, log_reward_fn, steps, offline=(), progress=None):
        type(self).trains += 1
        labelled = set(offline)
        fresh = [d for d in self.library if d not in labelled]
        values = log_reward_fn(fresh)
        self.ranked = [fresh[int(i)] for i in torch.argsort(values, descending=True)]
        return {"screened": float(len(fresh))}

    def sample(self, n):
        return self.ranked[:n]

    def state_dict(self):
        return {"ranked": list(self.ranked)}

    def load_state_dict(self, state):
        self.ranked = list(state["ranked"])
