"""The oracle contract: a batch of designs in, one result (value or failure) per design out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence, runtime_checkable


@dataclass(frozen=True)
class OracleResult:
    """The outcome of scoring one design.

    Attributes:
        value: the score, or None when the call failed.
        reason: why the call failed (exception text, "timeout", "nan", "invalid design",
            "worker lost"); None on success.
    """

    value: float | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.value is not None

    @classmethod
    def failure(cls, reason: str) -> "OracleResult":
        return cls(None, reason)

    @classmethod
    def from_value(cls, value: object) -> "OracleResult":
        """Wrap a raw score; None, NaN, inf and non-numbers become failures with a reason."""
        if value is None:
            return cls.failure("no value")
        try:
            v = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return cls.failure(f"not a number: {value!r}")
        if not math.isfinite(v):
            return cls.failure(f"non-finite value: {v}")
        return cls(v)


@runtime_checkable
class Oracle(Protocol):
    """Ground truth for a campaign.

    Resources and limits are declared so that the runner can place calls on Ray:
    `num_cpus`, `num_gpus`, `timeout_s` (per call of `score`), `batch_size` (designs per call)
    and `idempotent` (safe to call again for the same design).
    """

    name: str
    num_cpus: float
    num_gpus: float
    timeout_s: float | None
    batch_size: int
    idempotent: bool

    def score(self, batch: list[str]) -> list[OracleResult]:
        """Score `batch`; return exactly one result per design, in order."""
        ...


@dataclass
class FunctionOracle:
    """Wraps a plain function `f(list[str]) -> list[float]` as an `Oracle`.

    A raised exception fails every design of the call with the exception as the reason;
    NaN, inf and None fail one design each.
    """

    fn: Callable[[list[str]], Sequence[object]]
    name: str = "function"
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    timeout_s: float | None = None
    batch_size: int = 16
    idempotent: bool = False

    def score(self, batch: list[str]) -> list[OracleResult]:
        try:
            values = list(self.fn(list(batch)))
        except Exception as exc:  # the user's code: report, never crash the campaign
            return [OracleResult.failure(f"{type(exc).__name__}: {exc}")] * len(batch)
        if len(values) != len(batch):
            reason = f"returned {len(values)} values for {len(batch)} designs"
            return [OracleResult.failure(reason)] * len(batch)
        return [OracleResult.from_value(v) for v in values]
