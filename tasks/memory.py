"""Peak resident memory of the work between two points, for the run summary's `steps.<name>.peak_gb`.

Linux keeps a process's peak resident set (VmHWM) and lets the process reset it (`/proc/self/clear_refs`), so each
step's own peak can be read even though steps share one process. Training processes started by torchrun are
counted through the largest child's peak. Elsewhere the figure is the process's peak so far, and says so.
"""

from __future__ import annotations

import resource
from pathlib import Path

STATUS, CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")
_children_before = [0.0]  # the largest child peak seen before the current measurement began


def _children_gb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def reset_peak() -> bool:
    """Start a new peak measurement; False where the system cannot (the next reading is then the peak so far)."""
    _children_before[0] = _children_gb()
    try:
        CLEAR.write_text("5")
        return True
    except OSError:
        return False


def peak_gb() -> float:
    """Peak resident memory since the last reset (GiB): this process, or a child process if one peaked higher."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux; a lifetime peak
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                own = int(line.split()[1]) / 2**20
                break
    except OSError:
        pass
    children = _children_gb()  # the largest peak of any child ever waited for: counts only if it grew since the reset
    return round(max(own, children if children > _children_before[0] else 0.0), 3)
