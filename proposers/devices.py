"""Where the GFlowNet's networks run: one `device` setting, resolved once per process.

`resolve_device("auto")` is CUDA when this process sees a CUDA device, else the CPU. Ray narrows
`CUDA_VISIBLE_DEVICES` to the GPUs it assigned a task or actor (`cuda:0` is the first of them),
but (Ray 2.60) leaves it alone for one that asked for none, which may then see every GPU: so the
Ray entry points (`actors.SamplerActor`, `data_parallel.RankActor`, the surrogate's fit task)
decide from `ray.get_gpu_ids()` and pass a concrete device. Environments, trajectories and the
action draws stay on the CPU (a CPU generator, so a seed gives the same draws on any device);
only the networks and their losses move. `OnDevice` is the bridge a CPU sampler drives a
device-resident policy through.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn


def resolve_device(setting: str | torch.device = "auto") -> torch.device:
    """The device a setting names: "auto" (a visible CUDA device, else the CPU), "cpu", "cuda",
    "cuda:1", ...

    Raises:
        ValueError: an unknown device name, or CUDA named where this process sees none.
    """
    if str(setting) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except RuntimeError as err:
        raise ValueError(f"unknown device {setting!r}: use 'auto', 'cpu' or 'cuda[:N]'") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {setting!r} asked for, but this process sees no CUDA device "
                         f"(use 'auto' to fall back to the CPU)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {setting!r} asked for, but this process sees {torch.cuda.device_count()} "
                         f"CUDA device(s) (in a Ray worker its GPUs count from cuda:0)")
    return device


def to_cpu(value: Any) -> Any:
    """`value` with every tensor inside it (dicts, lists, tuples, dataclasses) copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: to_cpu(getattr(value, f.name))
                                             for f in dataclasses.fields(value)})
    return value


class OnDevice(nn.Module):
    """Runs `policy` on `device`; inputs come from and outputs go back to the CPU.

    Recurrent policies (`recurrent`, `initial_hidden`, `step`) keep their hidden state on
    the device.
    """

    def __init__(self, policy: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.policy, self.device = policy, device
        self.recurrent = bool(getattr(policy, "recurrent", False))

    def forward(self, x: torch.Tensor) -> Any:
        return to_cpu(self.policy(x.to(self.device)))

    def initial_hidden(self, n: int) -> torch.Tensor:
        return self.policy.initial_hidden(n)

    def step(self, prev: torch.Tensor | None, hidden: torch.Tensor) -> tuple[Any, torch.Tensor]:
        out, hidden = self.policy.step(None if prev is None else prev.to(self.device), hidden)
        return to_cpu(out), hidden


def on_device(policy: nn.Module, device: torch.device) -> nn.Module:
    """What a CPU sampler calls: `policy` itself on the CPU, else `OnDevice(policy, device)`."""
    return policy if device.type == "cpu" else OnDevice(policy, device)
