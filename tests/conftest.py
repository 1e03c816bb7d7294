"""Shared test set-up: offline, Prefect state in a temp folder, one tiny BEIR dataset written to disk."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from flows.cli import local_defaults

# before anything imports prefect or transformers: Prefect state, results and caches in a temp folder, offline
_TMP = Path(tempfile.mkdtemp(prefix="embedforge-tests-"))
local_defaults(_TMP, override=True)
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)

# A tiny contract-clause retrieval set: the query words differ from the clause words on purpose.
DOCS = {
    "d01": (
        "Indemnification",
        "Supplier shall indemnify, defend and hold harmless Customer from any third-party claim arising from the Products.",
    ),
    "d02": (
        "Limitation of Liability",
        "In no event shall either party's aggregate liability exceed the fees paid in the twelve months preceding the claim.",
    ),
    "d03": (
        "Termination for Convenience",
        "Either party may terminate this Agreement for convenience upon thirty days' prior written notice.",
    ),
    "d04": (
        "Confidentiality",
        "The Receiving Party shall hold all Confidential Information in strict confidence and use it solely for the Purpose.",
    ),
    "d05": (
        "Force Majeure",
        "Neither party is liable for delay caused by events beyond its reasonable control, including floods, war and epidemics.",
    ),
    "d06": (
        "Governing Law",
        "This Agreement is governed by the laws of the State of New York and the courts of Manhattan have "
        "exclusive jurisdiction.",
    ),
    "d07": (
        "Non-Solicitation",
        "During the Term neither party shall solicit for employment any employee of the other party.",
    ),
    "d08": (
        "Automatic Renewal",
        "This Agreement renews automatically for successive one-year terms unless either party gives notice of non-renewal.",
    ),
    "d09": (
        "Late Payment",
        "Overdue amounts bear interest at one and a half percent per month from the due date until paid.",
    ),
    "d10": (
        "Audit Rights",
        "Customer may, on reasonable notice, inspect Supplier's books and records relating to the Services once per year.",
    ),
    "d11": (
        "Assignment",
        "Neither party may assign this Agreement without the prior written consent of the other, except on a change of control.",
    ),
    "d12": (
        "Warranty",
        "Supplier warrants that the Deliverables will conform to the Specifications for ninety days after acceptance.",
    ),
    "d13": (
        "Data Protection",
        "Processor shall process Personal Data only on documented instructions from the Controller.",
    ),
    "d14": (
        "Intellectual Property",
        "All right, title and interest in the Deliverables vest in Customer upon payment in full.",
    ),
    "d15": (
        "Insurance",
        "Supplier shall maintain commercial general liability insurance of at least five million dollars per occurrence.",
    ),
    "d16": (
        "Exclusivity",
        "During the Term Customer shall purchase the Products exclusively from Supplier within the Territory.",
    ),
}
QUERIES = {
    "q01": "who pays if someone sues us over their product",
    "q02": "is there a cap on how much they owe us",
    "q03": "can we walk away early with a month's warning",
    "q04": "do we have to keep their information secret",
    "q05": "what if a flood stops them delivering",
    "q06": "which state's courts handle disputes",
    "q07": "can they hire our staff away",
    "q08": "does the deal roll over each year",
    "q09": "what happens if we pay the invoice late",
    "q10": "can we check their accounting records",
    "q11": "can they transfer the contract to another company",
    "q12": "how long is the guarantee that the work is right",
    "q13": "rules for handling customer personal details",
    "q14": "who owns what they build for us",
    "q15": "how much cover must the vendor carry",
    "q16": "are we locked into buying only from them",
}
TRAIN = ["q01", "q02", "q03", "q04", "q05", "q06", "q07", "q08", "q09", "q10", "q11", "q12"]
TEST = ["q13", "q14", "q15", "q16"]


def write_beir(folder: Path, crlf: bool = True) -> Path:
    """Write the tiny set in the BEIR layout (qrels with CRLF line endings, as BEIR ships them)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for doc_id, (title, text) in DOCS.items():
            f.write(json.dumps({"_id": doc_id, "title": title, "text": text, "metadata": {}}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for query_id, text in QUERIES.items():
            f.write(json.dumps({"_id": query_id, "text": text, "metadata": {}}) + "\n")
    end = "\r\n" if crlf else "\n"
    for split, ids in (("train", TRAIN), ("test", TEST)):
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\td{q[1:]}\t1" for q in ids]
        (folder / "qrels" / f"{split}.tsv").write_bytes((end.join(lines) + end).encode())
    return folder


@pytest.fixture(scope="session")
def tiny_beir(tmp_path_factory) -> Path:
    return write_beir(tmp_path_factory.mktemp("tiny_beir"))


@pytest.fixture(scope="session")
def base_model_ref():
    from tasks.embeddings import resolve_model

    return resolve_model("all-MiniLM-L6-v2")


SLOW_FOLDERS = ("flows", "integration")  # every test there runs a flow or a Prefect server


def pytest_collection_modifyitems(config, items):
    """Mark the tests of SLOW_FOLDERS slow, so `pytest -m "not slow"` is the quick unit tier."""
    for item in items:
        if Path(item.fspath).parent.name in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
