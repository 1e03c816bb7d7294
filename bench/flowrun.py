"""Shared by the bench scripts: one `embedforge run` in a fresh process, as a user would start it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORE = ROOT / ".embedforge" / "store"  # shared by every bench run: variants reuse each other's cached steps


def run_flow(overrides: list[str], registry_root: Path, workdir: Path, name: str) -> tuple[dict, Path]:
    """Run the flow with these `--set` overrides (store shared, registry per variant); (summary, log path)."""
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=workdir))
    command = [
        sys.executable,
        "-m",
        "flows.cli",
        "run",
        "--json",
        str(work / "run.json"),
        "--set",
        f"registry.root={registry_root}",
        "--set",
        f"registry.store={STORE}",
    ]
    for item in overrides:
        command += ["--set", item]
    print(f"[bench] {name}: {' '.join(overrides)}", file=sys.stderr, flush=True)
    with open(work / "run.log", "w") as log:
        proc = subprocess.run(command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed (exit {proc.returncode}); log: {work / 'run.log'}")
    return json.loads((work / "run.json").read_text()), work / "run.log"


def emit(result: dict, path: str | None) -> None:
    """Print the result as JSON, and write it to `path` too when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        Path(path).write_text(text + "\n")


def provenance() -> dict:
    """Where and when a bench ran: the commit, the machine and the time, for every result file."""
    import platform
    from datetime import UTC, datetime

    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "commit": proc.stdout.strip(),
        "machine": f"{platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
