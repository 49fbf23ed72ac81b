"""`RunDirLock`: one holder per run directory, no `lock` file left after a clean exit, and no
two holders when the file is deleted under a process about to lock it."""

import subprocess
import sys
import textwrap

import pytest

from sciloop.pipeline import ledger as ledger_module
from sciloop.pipeline.config import ConfigError
from sciloop.pipeline.ledger import RunDirLock

HOLD = ("import sys, time\nfrom sciloop.pipeline.ledger import RunDirLock\n"
        "lock = RunDirLock(sys.argv[1]).__enter__()\nprint('held', flush=True)\ntime.sleep(60)")
TRY = ("import sys\nfrom sciloop.pipeline.ledger import RunDirLock\n"
       "with RunDirLock(sys.argv[1]):\n    print('got it')")


def test_clean_exit_leaves_no_lock_file_and_depth_counts(tmp_path):
    lock = RunDirLock(tmp_path)
    with lock:
        assert (tmp_path / "lock").read_text() == str(__import__("os").getpid())
        with lock:  # re-entrant: ask/tell inside run
            pass
        assert (tmp_path / "lock").exists()  # still held by the outer level
        with pytest.raises(ConfigError, match=r"in use by another sciloop process \(pid \d+\)"):
            with RunDirLock(tmp_path):  # another object (flock is per open file)
                pass
        assert (tmp_path / "lock").exists()  # a refused caller does not release it
    assert not (tmp_path / "lock").exists()
    with RunDirLock(tmp_path):  # and it can be taken again
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_refused_enter_leaves_the_depth_at_zero(tmp_path):
    with RunDirLock(tmp_path):
        other = RunDirLock(tmp_path)
        with pytest.raises(ConfigError):
            other.__enter__()
    with other:  # its depth was reset: this is a first enter, which locks
        assert (tmp_path / "lock").exists()
    assert not (tmp_path / "lock").exists()


@pytest.mark.slow
def test_another_process_is_refused_naming_its_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"in use by another sciloop process \(pid {holder.pid}\)"):
            with RunDirLock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    # a holder killed by SIGKILL leaves its file, but no lock: the next caller takes it
    assert (tmp_path / "lock").exists()
    with RunDirLock(tmp_path):
        pass
    assert not (tmp_path / "lock").exists()


@pytest.mark.slow
def test_a_waiter_that_locks_the_deleted_file_opens_it_anew(tmp_path, monkeypatch):
    """The classic flock + unlink race: B opened `lock` before A deleted it on release, and locks
    it after A unlocked. B holds a file no one else can see; C, opening `lock`, would create a
    new one and lock it too. B must notice and lock the file that `lock` names."""
    with RunDirLock(tmp_path):
        early = open(tmp_path / "lock", "a+")  # B's open, before A's release
    assert not (tmp_path / "lock").exists()
    opened = []

    def open_early_first(path, mode="r", *args, **kwargs):
        opened.append(path)
        return early if len(opened) == 1 else open(path, mode, *args, **kwargs)

    monkeypatch.setattr(ledger_module, "open", open_early_first, raising=False)
    with RunDirLock(tmp_path):
        assert len(opened) == 2 and early.closed  # the orphan was locked, seen, let go
        assert (tmp_path / "lock").exists()
        monkeypatch.undo()
        out = subprocess.run([sys.executable, "-c", TRY, str(tmp_path)], capture_output=True, text=True)
        assert out.returncode != 0 and "in use by another sciloop process" in out.stderr, out.stdout


STRESS = textwrap.dedent("""
    import os, sys, time
    from sciloop.pipeline.config import ConfigError
    from sciloop.pipeline.ledger import RunDirLock

    run_dir, inside, held = sys.argv[1], os.path.join(sys.argv[1], "inside"), 0
    deadline = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < deadline:
        try:
            with RunDirLock(run_dir):
                fd = os.open(inside, os.O_CREAT | os.O_EXCL)  # fails if another holder is inside
                os.close(fd)
                held += 1
                os.unlink(inside)
        except ConfigError:
            pass
    print(held)
""")


@pytest.mark.slow
def test_processes_racing_for_the_lock_never_hold_it_together(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", STRESS, str(tmp_path), "8"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    assert sum(int(out) for out, _ in outs) > 0
    assert list(tmp_path.iterdir()) == []  # no lock file, no one inside
