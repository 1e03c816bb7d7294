"""Screenshot a Prefect UI page in headless Chromium: proof that a run and its report show up in the UI.

Usage: python -m tests.integration.screenshot URL OUT.png   (e.g. http://127.0.0.1:4200/runs/flow-run/<id>)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
    "--hide-scrollbars",
    "--window-size=1440,1800",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def screenshot(url: str, out: str | Path, timeout: float = 120) -> Path:
    """Render `url` and write a PNG to `out`; raises when Chromium is missing or writes nothing."""
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH; on Debian: apt-get install chromium")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="embedforge-chromium-") as profile:
        subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot for {url}")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(screenshot(sys.argv[1], sys.argv[2]))
