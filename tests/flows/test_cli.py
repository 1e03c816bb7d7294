"""`embedforge run` as a user calls it: a fresh process, its own ephemeral Prefect server, JSON out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

STEPS = ["ingest", "baseline", "mine", "train", "evaluate", "gate", "register", "report"]


def embedforge(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=900
    )


def test_run_writes_the_summary_contract(tiny_beir, tmp_path):
    out = tmp_path / "run.json"
    proc = embedforge(
        "run",
        "--set",
        f"data.path={tiny_beir}",
        "--set",
        f"registry.root={tmp_path / 'models'}",
        "--set",
        f"registry.store={tmp_path / 'store'}",
        "--set",
        "train.batch_size=4",
        "--set",
        "mining.num_negatives=1",
        "--set",
        "mining.top_k=4",
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(out.read_text())
    assert isinstance(summary["promoted"], bool)
    assert summary["reason"]
    assert (tmp_path / "models").resolve() in [p.parent for p in [__import__("pathlib").Path(summary["model_path"])]]
    for role in ("base", "candidate"):
        assert {"ndcg@10", "mrr@10", "map@100", "recall@100"} <= set(summary["metrics"][role])
    assert list(summary["steps"]) == STEPS
    assert all(isinstance(s["cached"], bool) and s["seconds"] >= 0 for s in summary["steps"].values())
    assert set(summary["bm25"]) == set(summary["hybrid"]) == set(summary["metrics"]["candidate"])  # the baselines


def test_bad_dataset_fails_with_one_paragraph_and_no_traceback(tmp_path):
    proc = embedforge("run", "--set", f"data.path={tmp_path / 'missing'}", "--set", f"registry.store={tmp_path / 's'}")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_override_fails_before_running(tmp_path):
    proc = embedforge("run", "--set", "train.epochz=1")
    assert proc.returncode == 1
    assert "train.epochz" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_reports_each_size_and_bm25(tiny_beir, tmp_path):
    out = tmp_path / "eval.json"
    proc = embedforge(
        "evaluate",
        "--model",
        "all-MiniLM-L6-v2",
        "--data",
        str(tiny_beir),
        "--dims",
        "384,64",
        "--json",
        str(out),
        "--store",
        str(tmp_path / "store"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["dims"]) == {"384", "64"}
    assert {"ndcg@10", "mrr@10", "map@100", "recall@100"} <= set(result["dims"]["64"])
    assert result["dims"]["64"]["ndcg@10"] <= result["dims"]["384"]["ndcg@10"] + 0.2
    assert 0 <= result["bm25"]["ndcg@10"] <= 1


def test_score_matches_the_library_on_a_run_file(tmp_path):
    (tmp_path / "run.txt").write_text("q1 Q0 d1 1 0.9 t\nq1 Q0 d2 2 0.9 t\nq2 Q0 d3 1 0.5 t\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq3\td1\t1\n")
    proc = embedforge(
        "score",
        str(tmp_path / "run.txt"),
        str(tmp_path / "qrels.tsv"),
        "--k",
        "1,10",
        "--json",
        str(tmp_path / "s.json"),
    )
    assert proc.returncode == 0, proc.stderr
    scores = json.loads((tmp_path / "s.json").read_text())
    # ties break by doc id descending: d2 ranks above d1 for q1, so q1's relevant d1 is at rank 2
    assert scores["mrr@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert scores["precision@1"] == pytest.approx(1 / 3)


def test_models_list_promote_and_rollback(tiny_beir, tmp_path):
    from tasks import registry
    from tests.unit.test_registry import make_model, registered

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", False, base, "2026-01-01")
    listed = embedforge("models", "list", "--root", str(root), "--json")
    assert json.loads(listed.stdout)["versions"][0]["version"] == registry.version_of(a)
    assert embedforge("models", "promote", registry.version_of(a), "--root", str(root)).returncode == 0
    assert registry.read_champion(root)["sha256"] == a.sha256
    back = embedforge("models", "rollback", "--root", str(root))
    assert back.returncode == 0 and "base model" in back.stdout
    again = embedforge("models", "rollback", "--root", str(root))
    assert again.returncode == 1 and "already the champion" in again.stderr


BAD = __import__("pathlib").Path(__file__).resolve().parents[1] / "data" / "bad"


@pytest.mark.parametrize(
    "args,code",
    [
        (["bom_ok.csv"], 0),
        (["wrong_type_and_range.csv"], 1),
        (["dangling_qrels"], 1),
        (["wrong_columns.csv"], 2),
        (["nope.csv"], 2),
        (["wrong_columns.csv", "--type", "pairs", "--columns", "anchor=question,positive=answer"], 0),
    ],
)
def test_validate_exit_codes_and_report(tmp_path, args, code):
    out = tmp_path / "report.json"
    proc = embedforge(
        "validate", str(BAD / args[0]), *args[1:], "--json", str(out), "--quarantine-dir", str(tmp_path / "q")
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert {"valid", "type", "rows_in", "rows_valid", "rows_quarantined", "errors", "quarantine_path"} <= set(report)
    assert report["valid"] == (code == 0)
    if code == 1:
        assert report["rows_in"] == report["rows_valid"] + report["rows_quarantined"]
        assert report["quarantine_path"] and __import__("pathlib").Path(report["quarantine_path"]).is_file()
        assert {"file", "row", "column", "check", "value"} <= set(report["errors"][0])
        assert f"{BAD / args[0]}" in proc.stdout


def test_caching_across_processes(tiny_beir, tmp_path):
    """Separate `embedforge run` processes sharing one result store: what reruns after each kind of change."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_beir, data)
    common = [
        "--set",
        f"data.path={data}",
        "--set",
        f"registry.root={tmp_path / 'models'}",
        "--set",
        f"registry.store={tmp_path / 'store'}",
        "--set",
        "train.batch_size=4",
        "--set",
        "mining.num_negatives=1",
        "--set",
        "mining.top_k=4",
    ]

    def cached(*extra: str) -> dict[str, bool]:
        out = tmp_path / "run.json"
        proc = embedforge("run", *common, *extra, "--json", str(out))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return {name: step["cached"] for name, step in json.loads(out.read_text())["steps"].items()}

    assert not any(cached().values())
    assert all(cached().values())  # identical rerun in a new process
    assert cached("--set", "train.epochs=2") == {
        "ingest": True,
        "baseline": True,
        "mine": True,
        "train": False,
        "evaluate": False,
        "gate": False,
        "register": False,
        "report": False,
    }
    corpus = data / "corpus.jsonl"
    corpus.write_bytes(corpus.read_bytes().replace(b"Manhattan", b"Manhattam", 1))  # one byte of one document
    after_edit = cached("--set", "train.epochs=2")
    assert not any(after_edit.values()), after_edit


def test_evaluate_scores_a_long_document_by_its_best_passage(tmp_path):
    from tests.unit.test_passages import FACT, GARDEN

    data = tmp_path / "long"
    (data / "qrels").mkdir(parents=True)
    docs = {
        "long": GARDEN * 12 + FACT,
        "wind": "Wind turbines turn the kinetic energy of moving air into electricity.",
        "engines": "Jet engines compress air, burn fuel and push hot exhaust out the back.",
    }
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (data / "queries.jsonl").write_text(
        json.dumps({"_id": "q", "text": "What material is the Zephyr-9 turbine blade made of?"}) + "\n"
    )
    (data / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\tlong\t1\n")
    results = {}
    for flag in ([], ["--no-passages"]):
        out = tmp_path / f"eval{len(flag)}.json"
        store = ["--store", str(tmp_path / "store")]
        proc = embedforge(
            "evaluate", "--model", "all-MiniLM-L6-v2", "--data", str(data), "--json", str(out), *store, *flag
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[bool(flag)] = json.loads(out.read_text())
    by_passage, first_window = results[False], results[True]
    assert by_passage["passages"]["passages"] > 3 and by_passage["passages"]["documents_split"] >= 1
    assert {k: first_window["passages"][k] for k in ("split", "documents", "passages")} == {
        "split": False,
        "documents": 3,
        "passages": 3,
    }
    assert by_passage["dims"]["384"]["mrr@10"] == 1.0 > first_window["dims"]["384"]["mrr@10"]
