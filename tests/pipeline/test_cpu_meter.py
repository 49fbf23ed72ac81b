"""`CpuMeter` counts the CPU of processes the work starts, which `getrusage` cannot see."""

import subprocess
import sys
import time

from sciloop.pipeline.cpu_meter import CpuMeter

#: Spins until it has used 1.0 s of CPU (however loaded the machine), then idles, so the meter
#: reads it alive after the work.
SPIN = """
import time
while time.process_time() < 1.0:
    pass
print("spun", flush=True)
time.sleep(30)
"""


def test_counts_a_live_descendant_and_this_process():
    with CpuMeter(interval=0.05) as meter:
        child = subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "spun"
            time.sleep(0.2)  # a few reads of the spun child
            t = time.process_time()
            while time.process_time() - t < 0.3:  # this process's own work
                pass
        finally:
            child.kill()
            child.wait()
    assert 1.25 <= meter.seconds < 60  # the child's 1.0 s (not waited for while it ran) + our 0.3 s


def test_work_before_the_meter_is_not_counted():
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    with CpuMeter(interval=0.05) as meter:
        pass
    assert meter.seconds < 0.2
