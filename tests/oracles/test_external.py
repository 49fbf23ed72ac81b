"""The external-command oracle, alone and on a real local Ray."""

import math
import sys
import time
from pathlib import Path

import pytest

from sciloop.oracles.base import OracleSetupError
from sciloop.oracles.external import CommandOracle
from sciloop.oracles.runner import OracleRunner

SCRIPT = Path(__file__).with_name("ext_score.py")
PY = sys.executable


def test_lines_from_output_file_with_per_design_malformed():
    oracle = CommandOracle([PY, str(SCRIPT), "{input}", "{output}"])
    res = oracle.score(["C", "CCO", "garbage"])
    assert [r.value for r in res[:2]] == [1.0, 3.0]
    assert res[2].reason == "malformed output: 'oops'"


def test_stdout_csv_and_missing_design():
    oracle = CommandOracle(f"{PY} {SCRIPT} {{input}} --csv", output_format="csv")
    res = oracle.score(["CC", "skip", "garbage"])
    assert res[0].value == 2.0
    assert res[1].reason == "malformed output: design missing"
    assert res[2].reason == "malformed output: 'oops'"


def test_non_zero_exit_fails_each_design_with_status_and_stderr():
    res = CommandOracle([PY, str(SCRIPT), "{input}", "{output}"]).score(["C", "crash"])
    assert all(r.reason == "command exited with status 3: segmentation fault (simulated)" for r in res)


def test_too_many_lines_and_command_timeout(tmp_path):
    many = CommandOracle([PY, "-c", "print('1\\n2\\n3')"]).score(["a", "b"])
    assert all("3 lines for 2 designs" in r.reason for r in many)
    t = time.monotonic()
    slow = CommandOracle([PY, "-c", "import time; time.sleep(30)"], command_timeout_s=1).score(["a"])
    assert slow[0].reason == "timeout (command killed)" and time.monotonic() - t < 10


def test_output_lines_are_never_matched_to_the_wrong_design():
    """Regression: a program that skipped one design gave every later design its neighbour's score."""
    skipped = CommandOracle([PY, "-c", "print(1); print(2)"]).score(["a", "b", "c"])
    assert all("2 lines for 3 designs" in r.reason and "csv" in r.reason for r in skipped)
    trailing = CommandOracle([PY, "-c", "print(1); print('FAIL'); print()"], failure_tokens=("FAIL",))
    assert [r.value for r in trailing.score(["a", "b"])] == [1.0, None]  # an empty last line is no design's
    assert trailing.score(["a", "b"])[1].reason == "command reported failure: 'FAIL'"


def test_a_csv_keeps_the_values_written_before_the_program_failed():
    crash = "import sys; print('design,value'); print('C,1'); print('CC,fail'); sys.exit('licence lost')"
    res = CommandOracle([PY, "-c", crash], output_format="csv").score(["C", "CC", "CCC"])
    assert res[0].value == 1.0 and res[1].reason == "command reported failure: 'fail'"
    assert res[2].reason == "command exited with status 1: licence lost"  # paid: the one it never reached
    header_only = CommandOracle([PY, "-c", "print('design,value'); exit(2)"], output_format="csv").score(["C"])
    assert header_only[0].reason == "command exited with status 2"


def test_commands_as_a_user_writes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(SCRIPT.parent)  # a script beside where sciloop was started: found, as in a shell
    assert [r.value for r in CommandOracle(f"{PY} {SCRIPT.name} {{input}}").score(["C", "CC"])] == [1.0, 2.0]
    braces = [PY, "-c", "import sys; w = {'x': 1}; [print(len(l.strip()) + w['x']) for l in open(sys.argv[1])]",
              "{input}"]  # code with braces of its own (an awk program, a dict)
    assert [r.value for r in CommandOracle(braces).score(["C", "CC"])] == [2.0, 3.0]
    stdin = CommandOracle([PY, "-c", "import sys; [print(len(l.strip())) for l in sys.stdin]"], timeout_s=math.inf)
    assert [r.value for r in stdin.score(["CCC"])] == [3.0]  # no {input}: the designs on stdin; no time limit
    csv = CommandOracle([PY, "-c", "print('design, value'); print('C, 7')"], output_format="csv")
    assert csv.score(["C"])[0].value == 7.0  # a header written with spaces


def test_setup_finds_the_program_as_a_shell_would(tmp_path, monkeypatch):
    monkeypatch.chdir(SCRIPT.parent)
    CommandOracle(f"{PY} {SCRIPT.name} {{input}}").setup()  # an absolute path
    CommandOracle("python3 -c 'print(1)'").setup()  # on PATH
    script = tmp_path / "dock.sh"
    script.write_text("#!/bin/sh\ncat\n")
    with pytest.raises(FileNotFoundError, match="'./dock.sh' not found or not executable"):
        CommandOracle("./dock.sh {input}", cwd=str(tmp_path)).setup()  # not executable
    script.chmod(0o755)
    CommandOracle("./dock.sh {input}", cwd=str(tmp_path)).setup()  # relative to where it runs
    with pytest.raises(FileNotFoundError, match="'python3' not found"):
        CommandOracle("python3 {input}", env={"PATH": str(tmp_path)}).setup()  # the program's own PATH


def test_a_missing_program_stops_the_run_before_any_design_is_charged(ray_session):
    submitted, results = [], []
    oracle = CommandOracle("no-such-docking-program {input}", num_cpus=0.5, batch_size=2)
    with pytest.raises(OracleSetupError, match="'no-such-docking-program' not found"):
        OracleRunner(oracle, max_workers=1).run(["C", "CC", "CCC"], submitted.extend,
                                                lambda *a: results.append(a))
    assert submitted == [] and results == []


def test_command_oracle_on_ray(ray_session):
    oracle = CommandOracle([PY, str(SCRIPT), "{input}", "{output}"], num_cpus=0.5, batch_size=2)
    results = {}
    failures = OracleRunner(oracle).run(["C", "CC", "garbage", "CCCC", "crash"], lambda c: None,
                                        lambda d, r, n: results.__setitem__(d, r))
    assert results["C"].value == 1.0 and results["CCCC"].value == 4.0
    assert results["garbage"].reason.startswith("malformed output")
    # batches: [C, CC], [garbage, CCCC], [crash]: a non-zero exit fails only its own batch
    assert results["crash"].reason.startswith("command exited with status 3")
    assert failures == 2
