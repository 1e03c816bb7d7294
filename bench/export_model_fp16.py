"""Write an fp16 copy of the bundled all-MiniLM-L6-v2 (about 45 MB) for a machine that cannot download it.

Usage: .venv/bin/python bench/export_model_fp16.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    from sentence_transformers import SentenceTransformer

    from tasks.embeddings import resolve_model

    out = Path(sys.argv[1])
    model = SentenceTransformer(resolve_model("all-MiniLM-L6-v2").path, device="cpu").half()
    model.save(str(out), safe_serialization=True)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
