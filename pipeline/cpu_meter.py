"""CPU seconds of a piece of work that spreads over processes (Ray's workers, a subprocess peer).

`resource.getrusage` sees only this process and the children it waited for: a campaign's Ray
workers (breeding tasks, oracle actors, surrogate fits) are neither. `CpuMeter` samples the CPU
times of this process and all its descendants in a thread, and sums what each used while it ran.
The workers of a Ray cluster joined by address are not descendants: only a local Ray's are counted.
"""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

#: What `CpuMeter.seconds` covers, as written next to it in result files.
SCOPE = "this process and its descendants on this machine (a local Ray's workers included), sampled"


class CpuMeter:
    """Context manager: user + system CPU seconds of this process and its descendants inside it.

    A process is known by its pid and start time. Its CPU is read every `interval` seconds and
    once more at the end; a process that ends between two reads loses at most its last
    `interval` of CPU, and one that lives less than `interval` may be missed. Processes that
    existed before are counted from their CPU time at the start.
    """

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._start: dict[tuple[int, float], float] = {}
        self._last: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _read() -> dict[tuple[int, float], float]:
        me = psutil.Process()
        out = {}
        for proc in [me, *me.children(recursive=True)]:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    out[proc.pid, proc.create_time()] = times.user + times.system
            except psutil.Error:  # ended while being read
                continue
        return out

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._last.update(self._read())

    def __enter__(self) -> CpuMeter:
        self._start = self._read()
        self._last = dict(self._start)
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._last.update(self._read())

    @property
    def seconds(self) -> float:
        """CPU seconds used inside the `with` block (so far, while it runs)."""
        last = dict(self._last)  # the sampling thread may add processes meanwhile
        return sum(t - self._start.get(key, 0.0) for key, t in last.items())
