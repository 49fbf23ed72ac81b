"""A fixture plugin: an acquisition reached from a config by `module:Class` alone.

An optimistic UCB (BoTorch's beta fixed at 4) whose reward is its value on standardised labels:
one new file, no registration line (`acquisition.name: acquisition_plugin:OptimisticUCB`).
"""

from botorch.acquisition import AcquisitionFunction, qUpperConfidenceBound
from botorch.models.model import Model
from torch import Tensor

from sciloop.surrogates.acquisition import AcquisitionEntry


class OptimisticUCB(AcquisitionEntry):
    """`qUpperConfidenceBound(beta=4)`; counts the rewards it computed (the test reads `calls`)."""

    calls = 0

    def build(self, model: Model, train_X: Tensor, train_y: Tensor) -> AcquisitionFunction:
        return qUpperConfidenceBound(model, beta=4.0, sampler=self.sampler(model, train_X))

    def utility(self, values: Tensor, train_y: Tensor) -> Tensor:
        type(self).calls += 1
        return (values - train_y.mean()) / train_y.std().clamp_min(1e-12)
