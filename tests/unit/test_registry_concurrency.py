"""The registry under several processes: compare-and-swap promotion, the lock, and a writer killed mid-write."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks import registry
from tests.unit.test_registry import assert_each_baseline_was_the_champion_before, make_model, registered

REPO = Path(__file__).resolve().parents[2]

# One run's last two steps in its own process: gate (read the champion it is judged against), then register. With
# a barrier file it stops between the two until the file appears, the window in which another run can promote.
RUN = """
import json, sys, time
from pathlib import Path
from tasks import registry
from tasks.storage import ModelRef
root, cand, base = sys.argv[1], ModelRef.model_validate_json(sys.argv[2]), ModelRef.model_validate_json(sys.argv[3])
barrier, pause = sys.argv[4], float(sys.argv[5])
for attempt in range(int(sys.argv[6])):
    baseline = registry.baseline_for(root, cand, base)
    print(json.dumps({"gated": registry._baseline_version(Path(root), baseline)}), flush=True)
    if barrier:
        while not Path(barrier).exists():
            time.sleep(0.02)
    time.sleep(pause)
    entry = registry.register(cand, True, baseline, root, {}, {"created_at": str(time.time())})
    print(entry.model_dump_json(), flush=True)
"""


def start_run(root, cand, base, barrier="", pause=0.0, attempts=1) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN,
            str(root),
            cand.model_dump_json(),
            base.model_dump_json(),
            str(barrier),
            str(pause),
            str(attempts),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> list[dict]:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return [json.loads(line) for line in out.splitlines()]


def test_two_runs_gated_against_the_same_champion_promote_only_one(tmp_path):
    root = tmp_path / "models"
    base, a, b = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    barrier = tmp_path / "release-a"
    run_a = start_run(root, a, base, barrier=barrier)  # gates against base, then waits before registering
    assert json.loads(run_a.stdout.readline()) == {"gated": "base"}
    gated_b, entry_b = finish(start_run(root, b, base))  # gates against base too, and registers first
    assert gated_b == {"gated": "base"} and entry_b["promoted"]
    barrier.touch()
    (entry_a,) = finish(run_a)
    va, vb = registry.version_of(a), registry.version_of(b)
    assert not entry_a["promoted"] and entry_a["champion"] == vb and entry_a["replaced"] == ""
    assert entry_b["replaced"] == "base"
    assert f"the champion moved from base to {vb}" in entry_a["note"]
    assert registry.read_champion(root)["version"] == vb
    assert (root / va / "manifest.json").is_file()  # registered, not promoted
    assert [e["version"] for e in registry.history(root)] == [vb]
    assert registry.baseline_for(root, a, base).path == str((root / vb).resolve())  # a's next run is judged against b
    assert_each_baseline_was_the_champion_before(root)


def test_concurrent_runs_keep_every_promotion_judged_against_the_champion_before_it(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    candidates = [make_model(tmp_path, f"c{i}", str(i + 1)) for i in range(4)]
    # each process gates and registers its candidate three times, pausing in the gate-register window
    procs = [start_run(root, c, base, pause=0.02 * (i + 1), attempts=3) for i, c in enumerate(candidates)]
    entries = [line for proc in procs for line in finish(proc) if "version" in line]
    assert len(entries) == 12
    # every promotion in the history was written by exactly one registration, and every registration that moved the
    # pointer is in it (the same pair may recur: each run's gate approves, so two candidates can take turns)
    written = sorted((e["version"], e["baseline"]) for e in registry.history(root) if e["action"] == "promote")
    assert written == sorted((e["version"], e["replaced"]) for e in entries if e["replaced"])
    for entry in entries:
        assert entry["promoted"] or "champion moved" in entry["note"], entry
    assert_each_baseline_was_the_champion_before(root)


HOLD = """
import sys, time
from pathlib import Path
from tasks import registry
with registry._locked(Path(sys.argv[1])):
    print("locked", flush=True)
    while not Path(sys.argv[2]).exists():
        time.sleep(0.02)
"""


@pytest.mark.parametrize("operation", ["register", "promote", "rollback", "prune"])
def test_every_change_waits_for_the_lock(tmp_path, operation):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", operation == "rollback", base, "2026-01-01")
    b = make_model(tmp_path, "b", "2")
    if operation == "prune":
        registered(tmp_path, root, "c", "3", False, base, "2026-01-02")  # newer than a: keep=1 prunes a
    change = {
        "register": lambda: registry.register(b, True, registry.baseline_for(root, b, base), root, {}, {}),
        "promote": lambda: registry.promote(root, registry.version_of(a)),
        "rollback": lambda: registry.rollback(root),
        "prune": lambda: registry.prune(root, keep=1),
    }[operation]

    def state():
        pointer = root / "CHAMPION.json"
        return pointer.read_text() if pointer.exists() else None, registry._registered(root)

    before = state()
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root), str(release)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    changing = threading.Thread(target=change)
    changing.start()
    time.sleep(0.5)
    assert changing.is_alive()
    assert state() == before
    release.touch()
    changing.join(timeout=30)
    assert holder.wait(timeout=30) == 0
    assert not changing.is_alive()
    assert state() != before


def test_a_lock_held_too_long_fails_with_the_holder(tmp_path):
    root = tmp_path / "models"
    release = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root), str(release)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        try:
            with registry._locked(root, timeout_s=0.2):
                raise AssertionError("the lock was taken while another process held it")
        except registry.RegistryError as exc:
            assert f"pid {holder.pid}" in str(exc) and ".lock" in str(exc)
    finally:
        release.touch()
        holder.wait(timeout=30)


KILLER = """
import sys
from tasks import registry
root, a, b = sys.argv[1:4]
print("ready", flush=True)
i = 0
while True:
    registry.promote(root, (a, b)[i % 2])
    i += 1
"""


def test_killing_a_writer_mid_write_never_leaves_a_broken_pointer(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", False, base, "2026-01-02")
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLER, str(root), registry.version_of(a), registry.version_of(b)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pointer = registry.read_champion(root)  # must parse
        assert pointer["sha256"] in {a.sha256, b.sha256}
        assert (root / pointer["version"] / "manifest.json").is_file()
        assert_each_baseline_was_the_champion_before(root)
    # the lock died with the killed writer: the next operation gets it at once
    registry.promote(root, registry.version_of(a))
