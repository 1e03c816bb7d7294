"""Operations timing: `embedforge data add` → the triggered on-new-data run, against a real Prefect server.

Runs the integration test that does it (tests/integration/test_serve_and_trigger.py: a Prefect server, `embedforge
serve`, a tiny BEIR set landed with `data add`, then two more versions back to back) and records the seconds it
prints from the add to the triggered run's start and end, as the Prefect server saw them.
Usage:
    .venv/bin/python bench/operations.py [--json bench/results/operations.json]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from flowrun import emit  # noqa: E402

TEST = "tests/integration/test_serve_and_trigger.py::test_data_add_triggers_a_run_that_completes"
LINE = re.compile(r"triggered run started after (-?[\d.]+) s, completed after (-?[\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    found = LINE.search(proc.stdout)
    if proc.returncode != 0 or not found:
        raise SystemExit(
            f"the test failed (exit {proc.returncode}) or printed no timing:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    emit(
        {
            "test": TEST,
            "data_add_to_run_start_seconds": float(found.group(1)),
            "data_add_to_run_end_seconds": float(found.group(2)),
            "two_versions_back_to_back": "two more runs, one after the other (the test asserts it)",
            "test_passed": True,
            "test_wall_seconds": round(seconds, 1),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
