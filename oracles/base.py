"""The oracle contract: a batch of designs in, one result (value or failure) per design out.

An oracle is anything with `score(batch) -> list[OracleResult]` plus declared limits. Optional
parts, all read with `getattr` so a minimal object still works:

- `setup()` once per worker before its first call, `teardown()` when the worker retires
  (an oracle with either runs on a pool of Ray actors, one per worker);
- `resources`: custom Ray resources per call (`{"docking_license": 1}`);
- `cost`: what one design costs (budget accounting, informative);
- `transient_errors`: exception types whose failures are retried with back-off;
- `retry`: a `RetryPolicy`;
- `num_workers`: how many calls may run at once (default: as many as the resources allow);
- `num_objectives`: the length of each design's score vector; when declared, a result of
  another length fails that design ("wrong number of objectives").

`timeout_s` (per call, from dispatch) defaults to `DEFAULT_TIMEOUT_S` (one hour) when absent or
None, so a hung oracle cannot hang a campaign; `math.inf` means no limit. An asynchronous
oracle (a lab hand-off) is never called by the runner and has no timeout.

A multi-objective oracle returns a vector per design (a list, tuple or 1-D array); the result's
`value` is then a tuple of floats, and `values` is always a tuple (length 1 for one objective).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

#: A score: one number, or a vector for a multi-objective oracle.
Value = float | tuple[float, ...]

#: Seconds a call may run (from dispatch) when the oracle declares no `timeout_s`.
DEFAULT_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class OracleResult:
    """The outcome of scoring one design.

    Attributes:
        value: the score (a tuple for a multi-objective oracle), or None when the call failed.
        reason: why the call failed ("ValueError: ...", "timeout", "non-finite value: nan",
            "invalid design", "worker lost: ..."); None on success.
        transient: the failure may succeed if retried (an exception type the oracle declared
            transient); the runner retries it with back-off.
    """

    value: Value | None
    reason: str | None = None
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def values(self) -> tuple[float, ...] | None:
        """The score as a tuple (one entry for a single objective); None for a failure."""
        if self.value is None:
            return None
        return self.value if isinstance(self.value, tuple) else (self.value,)

    @property
    def num_objectives(self) -> int:
        """The score's length (1 for a plain number); 0 for a failure."""
        return len(self.values or ())

    @classmethod
    def failure(cls, reason: str, transient: bool = False) -> "OracleResult":
        return cls(None, reason, transient)

    @classmethod
    def from_value(cls, value: object) -> "OracleResult":
        """Wrap a raw score; None, NaN, inf and non-numbers become failures with a reason.

        Accepted: an int, a float, a numpy or torch scalar, or a list/tuple (or 1-D array) of
        those, which is a multi-objective score. Text is not a number, even `'12.5'`: an
        oracle that reads its scores from a file or a program's output converts them itself
        (`float(text)`), so that a typo never turns into a score unnoticed. The reason of such a
        failure starts with "not a number" and names the type: `not a number: '12.5' (a str);
        an oracle returns an int, a float, ...`.
        """
        import numbers

        accepted = "an oracle returns an int, a float, a numpy or torch scalar, or a list/tuple of those"
        if isinstance(value, OracleResult):
            return value if not value.ok else cls.from_value(value.value)
        if value is None:
            return cls.failure("no value")
        if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy, torch
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            parts = [cls.failure(f"not a number: {v!r}; {accepted}") if isinstance(v, (list, tuple))
                     else cls.from_value(v) for v in value]
            bad = next((p for p in parts if not p.ok), None)
            if bad is not None or not parts:
                return cls.failure(bad.reason if bad else "empty vector")  # type: ignore[arg-type]
            return cls(tuple(p.value for p in parts))  # type: ignore[misc]
        if not isinstance(value, numbers.Real):  # text, bytes, Decimal, complex, arbitrary objects
            return cls.failure(f"not a number: {value!r} (a {type(value).__name__}); {accepted}")
        v = float(value)
        if not math.isfinite(v):
            return cls.failure(f"non-finite value: {v}")
        return cls(v)

    def expecting(self, num_objectives: int | None) -> "OracleResult":
        """This result, or a failure when its score does not have `num_objectives` entries."""
        if num_objectives is None or not self.ok or self.num_objectives == num_objectives:
            return self
        return OracleResult.failure(f"wrong number of objectives: {self.num_objectives} "
                                    f"(expected {num_objectives})")


@dataclass(frozen=True)
class RetryPolicy:
    """When the runner calls the oracle again for a design.

    Attributes:
        max_retries: extra attempts for a design whose failure is transient.
        backoff_s: wait before the first retry; each next retry waits `factor` times longer.
        factor: growth of the wait between retries.
        max_backoff_s: the longest wait.
        max_resends: extra attempts for designs lost with a dead worker; used only when the
            oracle is idempotent (a non-idempotent call may have been paid already).
    """

    max_retries: int = 2
    backoff_s: float = 1.0
    factor: float = 2.0
    max_backoff_s: float = 60.0
    max_resends: int = 1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1 = the first retry)."""
        return min(self.max_backoff_s, self.backoff_s * self.factor ** max(0, attempt - 1))


class OracleError(RuntimeError):
    """A failure of the oracle as a whole that must stop the campaign (not one design)."""


class ResultCountError(OracleError):
    """The oracle returned a different number of results than designs it was given."""

    def __init__(self, oracle: str, got: int, expected: int, batch: str = ""):
        self.oracle, self.got, self.expected, self.batch = oracle, got, expected, batch
        where = f" for batch {batch}" if batch else ""
        super().__init__(f"oracle {oracle!r} returned {got} results for {expected} designs{where}")

    def __reduce__(self):  # keep the fields across Ray's pickling
        return (ResultCountError, (self.oracle, self.got, self.expected, self.batch))


class ConsecutiveFailureError(OracleError):
    """Too many designs failed in a row: the oracle is probably broken, not the designs."""


class OracleSetupError(OracleError):
    """`setup()` failed on a worker: nothing can be scored until it is fixed."""


@runtime_checkable
class Oracle(Protocol):
    """Ground truth for a campaign.

    Resources and limits are declared so that the runner can place calls on Ray:
    `num_cpus`, `num_gpus`, `timeout_s` (per call of `score`, from when the call starts;
    None: `DEFAULT_TIMEOUT_S`),
    `batch_size` (designs per call) and `idempotent` (safe to call again for the same design).
    See the module docstring for the optional parts (setup, teardown, resources, cost, retries).
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

    `score` never raises: an exception fails every design of the call with the exception as
    the reason; NaN, inf and None fail one design each; a wrong number of values fails the
    call. A multi-objective function returns a vector per design (list, tuple, array row);
    NaN/inf in any entry fails that design. `evaluate` is the strict form the runner uses: it
    lets exceptions through (so that declared transient errors can be retried) and raises
    `ResultCountError`. A call times out after `timeout_s`: an hour (`DEFAULT_TIMEOUT_S`)
    unless given, so a hung function cannot hang a campaign.
    """

    fn: Callable[[list[str]], Sequence[object]]
    name: str = "function"
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    batch_size: int = 16
    idempotent: bool = False
    resources: dict[str, float] = field(default_factory=dict)
    cost: float = 1.0
    transient_errors: tuple[type[BaseException], ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    num_objectives: int | None = None

    def evaluate(self, batch: list[str]) -> list[OracleResult]:
        """Score `batch`, raising the function's exceptions and `ResultCountError`."""
        values = as_list(self.fn(list(batch)))
        if len(values) != len(batch):
            raise ResultCountError(self.name, len(values), len(batch))
        return [OracleResult.from_value(v).expecting(self.num_objectives) for v in values]

    def score(self, batch: list[str]) -> list[OracleResult]:
        try:
            return self.evaluate(batch)
        except ResultCountError as exc:
            return [OracleResult.failure(f"returned {exc.got} values for {exc.expected} designs")] * len(batch)
        except Exception as exc:  # the user's code: report, never crash the campaign
            return [OracleResult.failure(f"{type(exc).__name__}: {exc}")] * len(batch)


def as_list(returned: Any) -> list[Any]:
    """An oracle's return value as its list of per-design results.

    Raises:
        TypeError: a dict (`{design: score}`), whose keys a list would take for the scores.
    """
    if isinstance(returned, Mapping):
        raise TypeError("returned a dict: return a list of values in the order of the designs given")
    return list(returned)


def declared(oracle: Any, attr: str, default: Any) -> Any:
    """An optional declaration of `oracle`, or `default` when it is absent or None."""
    value = getattr(oracle, attr, None)
    return default if value is None else value
