"""A long-document retrieval set built from public data: SciFact abstracts stitched into documents of ~1,600 tokens.

Each document joins `--per-doc` abstracts (seeded shuffle), so the passage that answers a claim sits anywhere in it,
usually past the first 256 tokens a MiniLM reads. A query is relevant to the document that holds one of its relevant
abstracts. Train and test queries are SciFact's own splits, so training never sees a test query. The failure modes of
a long-document domain are all here: documents far over the model's limit, few relevant passages among much unrelated
text, and a base model that scores true positives low.

    .venv/bin/python bench/longdocs.py .embedforge/longdocs           # writes a BEIR folder there
    .venv/bin/python bench/passages.py --data .embedforge/longdocs --json bench/results/passages-longdocs.json
    .venv/bin/embedforge run --set data.path=.embedforge/longdocs --json bench/results/longdocs-run.json

With `--long-queries` every query becomes a long text as well, the way a whole judgment is the query in prior-case
retrieval: its claim sits among 1-3 unrelated abstracts before it and 0-2 after it (NFCorpus abstracts, a corpus of
its own, so no filler matches a document verbatim), so the part a pair is about is rarely the query's first window.
`--abstracts N` keeps every abstract some query is judged on and fills up to N with a seeded sample (a smaller
corpus for quick dev comparisons):

    .venv/bin/python bench/longdocs.py .embedforge/longqueries --long-queries --abstracts 2000
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "scifact"
FILLER = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nfcorpus"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_qrels(path: Path) -> list[tuple[str, str, int]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if number == 0 and parts[0] == "query-id":
            continue
        rows.append((parts[0], parts[1], int(parts[2])))
    return rows


def long_queries(queries: list[dict], filler: list[dict], seed: int) -> list[dict]:
    """Each query's text placed among 1-3 filler abstracts before it and 0-2 after it (seeded)."""
    rng = random.Random(seed)
    texts = [f"{a['title'].strip()}. {a['text'].strip()}" for a in filler if a["text"].strip()]
    out = []
    for query in queries:
        before, after = rng.sample(texts, rng.randint(1, 3)), rng.sample(texts, rng.randint(0, 2))
        out.append({**query, "text": "\n\n".join([*before, query["text"].strip(), *after])})
    return out


def build(
    source: Path, out: Path, per_doc: int, seed: int, abstracts: int | None = None, filler: Path | None = None
) -> dict:
    corpus = read_jsonl(source / "corpus.jsonl")
    if abstracts is not None:
        judged = {a for split in ("train", "test") for _, a, _ in read_qrels(source / "qrels" / f"{split}.tsv")}
        rest = [a for a in corpus if a["_id"] not in judged]
        keep = judged | {
            a["_id"] for a in random.Random(seed).sample(rest, max(0, min(len(rest), abstracts - len(judged))))
        }
        corpus = [a for a in corpus if a["_id"] in keep]
    random.Random(seed).shuffle(corpus)
    home: dict[str, str] = {}
    docs = []
    for start in range(0, len(corpus), per_doc):
        group = corpus[start : start + per_doc]
        doc_id = f"L{start // per_doc:05d}"
        for abstract in group:
            home[abstract["_id"]] = doc_id
        text = "\n\n".join(f"{a['title'].strip()}. {a['text'].strip()}" for a in group)
        docs.append({"_id": doc_id, "title": "", "text": text})
    out.mkdir(parents=True, exist_ok=True)
    (out / "qrels").mkdir(exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(d) + "\n" for d in docs)
    queries = read_jsonl(source / "queries.jsonl")
    if filler is not None:
        queries = long_queries(queries, read_jsonl(filler / "corpus.jsonl"), seed)
    with (out / "queries.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(q) + "\n" for q in queries)
    counts = {}
    for split in ("train", "test"):
        judged: dict[tuple[str, str], int] = {}
        for query_id, abstract_id, grade in read_qrels(source / "qrels" / f"{split}.tsv"):
            if abstract_id in home:
                key = (query_id, home[abstract_id])
                judged[key] = max(grade, judged.get(key, 0))
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{g}" for (q, d), g in sorted(judged.items())]
        (out / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts[split] = {"judgements": len(judged), "queries": len({q for q, _ in judged})}
    return {
        "documents": len(docs),
        "abstracts": len(corpus),
        "abstracts_per_document": per_doc,
        "long_queries": filler is not None,
        "seed": seed,
        **counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, default=SOURCE, help="a BEIR folder (default ../shared/data/scifact)")
    parser.add_argument("--per-doc", type=int, default=5, help="abstracts joined into one document (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-queries", action="store_true", help="queries as long texts (filler: --filler)")
    parser.add_argument("--filler", type=Path, default=FILLER, help="a BEIR folder (default ../shared/data/nfcorpus)")
    parser.add_argument("--abstracts", type=int, help="keep the judged abstracts plus a sample, N in all")
    args = parser.parse_args()
    filler = args.filler.resolve() if args.long_queries else None
    print(json.dumps(build(args.source.resolve(), args.out, args.per_doc, args.seed, args.abstracts, filler)))


if __name__ == "__main__":
    main()
