"""The closing table: sciloop beside random screening of the same library at equal calls."""

import math

from rich.console import Console

from sciloop.pipeline.report import cheap_builtin, screening_baseline, summary_table

LIBRARY = [f"C{i}" for i in range(1000)]


def value(design: str) -> float:
    return int(design[1:]) / 1000


def test_screening_scores_seeded_samples_of_the_library_at_equal_calls():
    calls = []

    def score(batch):
        calls.append(len(batch))
        return [None if d == "C999" else value(d) for d in batch]  # a failure is a call without value

    s = screening_baseline(score, LIBRARY, 300, "toy", seed=3, samples=4, chunk=128)
    assert sum(calls) == 4 * 300 and max(calls) == 128
    assert (s.library, s.calls, s.samples) == ("toy", 300, 4)
    assert 0.95 < s.best < 0.999 and 0.9 < s.top10 < s.best
    again = screening_baseline(lambda b: [value(d) for d in b], LIBRARY, 300, "toy", seed=3, samples=4)
    assert math.isclose(again.top10, s.top10, abs_tol=0.01)  # seeded: same samples
    assert screening_baseline(score, LIBRARY, 5000, "toy", samples=1).calls == 1000  # capped at the library
    assert screening_baseline(score, [], 10, "toy") is None


def test_a_slow_oracle_screens_fewer_whole_samples_after_the_time_cap():
    now = [0.0]

    def slow(batch):  # 40 clock-seconds a sample of 300 (3 chunks of 100)
        now[0] += 40 / 3
        return [value(d) for d in batch]

    s = screening_baseline(slow, LIBRARY, 300, "toy", samples=5, chunk=100, max_seconds=60, clock=lambda: now[0])
    assert (s.samples, s.calls) == (2, 300)  # the third would start after 80 s; whole samples only
    assert math.isclose(s.seconds, 80.0)
    first = screening_baseline(slow, LIBRARY, 300, "toy", samples=5, chunk=100, max_seconds=0, clock=lambda: now[0])
    assert first.samples == 1  # the first sample always runs
    fast = screening_baseline(lambda b: [value(d) for d in b], LIBRARY, 300, "toy", samples=5)
    assert fast.samples == 5


def test_the_summary_puts_sciloop_beside_screening_with_its_gain_and_time():
    rounds = [{"round": r, "metrics": {"oracle_calls": 100 * (r + 1), "new_labels": 100, "failures": 0,
                                       "best": 0.3 + 0.05 * r, "top10_mean": 0.2 + 0.05 * r,
                                       "seconds_total": 30.0}} for r in range(5)]
    s = screening_baseline(lambda b: [value(d) / 2 for d in b], LIBRARY, 500, "nci", samples=2)
    console = Console(record=True, width=200)
    console.print(summary_table(rounds, "sciloop campaign 'demo': 500 oracle calls", s))
    text = console.export_text()
    assert "500 oracle calls, 2 min 30 s in rounds" in text
    screen = next(line for line in text.splitlines() if "screening" in line and "│" in line)
    assert "500" in screen and f"{s.best:.3f}" in screen and f"{s.top10:.3f}" in screen
    gain = next(line for line in text.splitlines() if "gain" in line and "│" in line)
    assert f"{0.5 - s.best:+.3f}" in gain and f"{0.4 - s.top10:+.3f}" in gain
    assert "not counted in the budget" in " ".join(text.split())  # the caption wraps
    plain = Console(record=True, width=200)
    plain.print(summary_table(rounds, "t"))  # no baseline: no screening rows
    assert "screening" not in plain.export_text().replace("initial screen", "")


def test_only_builtin_molecular_objectives_are_screened_in_the_driver():
    assert cheap_builtin("molecule", "celecoxib_rediscovery") and cheap_builtin("molecule", "qed")
    assert not cheap_builtin("molecule", "my_module:score") and not cheap_builtin("molecule", "lab")
    assert not cheap_builtin("sequence", "ehrlich")


def test_the_gain_is_the_last_finished_rounds_not_one_waiting_for_its_labels():
    """A round stores its proposal's metrics at selection (so a lab's round keeps them): until it is
    done, its best is not known, and the gain over screening is the last finished round's."""
    from sciloop.pipeline.report import Screening

    rounds = [{"round": 0, "stage": "done", "metrics": {"oracle_calls": 10, "best": 1.0, "top10_mean": 0.5}},
              {"round": 1, "stage": "awaiting_labels", "metrics": {"pool_kept": 30.0, "seconds_proposer": 5.0}}]
    console = Console(record=True, width=120)
    console.print(summary_table(rounds, "t", Screening("nci", 10, 5, best=0.25, top10=0.25, seconds=1.0)))
    gain = next(line for line in console.export_text().splitlines() if "gain" in line)
    assert "+0.750" in gain and "+0.250" in gain
