from __future__ import annotations

import json
import os
import stat

import pytest

from tasks import registry
from tasks.storage import ModelRef, dir_sha256

POOLING = '{"word_embedding_dimension": 4, "pooling_mode_mean_tokens": true}'
MODULES = json.dumps(
    [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
)


def make_model(tmp_path, name: str, weights: str) -> ModelRef:
    """A two-file model folder; its identity equals its dir_sha256, as both hash the same two files."""
    folder = tmp_path / "store" / name
    folder.mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_text(weights)
    return ModelRef(path=str(folder), sha256=dir_sha256(folder), name=name)


def make_st_folder(folder, weights: bytes, run: str):
    """A SentenceTransformer-shaped folder whose model card, stats and checkpoints record the run `run`."""
    (folder / "1_Pooling").mkdir(parents=True)
    (folder / "2_Normalize").mkdir()
    (folder / "modules.json").write_text(MODULES)
    (folder / "1_Pooling" / "config.json").write_text(POOLING)
    (folder / "config.json").write_text('{"hidden_size": 4}')
    (folder / "config_sentence_transformers.json").write_text('{"similarity_fn_name": "cosine"}')
    (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 256}')
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    (folder / "vocab.txt").write_text("[PAD]\na\n")
    (folder / "model.safetensors").write_bytes(weights)
    # what a run leaves that must not change the version: model card with timings, stats, checkpoints
    (folder / "README.md").write_text(f"# model\nTraining Time: {run}\n")
    (folder / "embedforge_training.json").write_text(json.dumps({"seconds": run}))
    (folder / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-5" / "trainer_state.json").write_text(run)
    (folder / "training_args.bin").write_text(run)
    return folder


def registered(tmp_path, root, name, weights, promote, base, when):
    """Register a fresh model as a run would: judged against registry.baseline_for, with a dated manifest."""
    ref = make_model(tmp_path, name, weights)
    baseline = registry.baseline_for(root, ref, base)
    registry.register(
        ref,
        promote,
        baseline,
        root,
        {},
        {
            "created_at": when,
            "model": ref.model_dump(),
            "judged_against": baseline.model_dump(),
            "decision": {"promote": promote},
        },
    )
    return ref


def assert_each_baseline_was_the_champion_before(root):
    """Replay the history: each promotion's baseline, and each rollback's replaced version, is the champion just before."""
    champion = registry.BASE
    for event in registry.history(root):
        if event["action"] == "promote":
            assert event["baseline"] == champion, event
        else:
            assert event["replaced"] == champion, event
        champion = event["version"]
    pointer = registry.read_champion(root)
    assert champion == (pointer["version"] if pointer else registry.BASE)
    # models list agrees with the history for every version's last promotion
    last = {e["version"]: e for e in registry.history(root) if e["action"] == "promote"}
    for row in registry.list_versions(root):
        assert row["promoted_at"] == last.get(row["version"], {}).get("at")
        assert row["baseline"] == last.get(row["version"], {}).get("baseline")


# ---- identity ------------------------------------------------------------------------------------------------------


def test_identical_weights_with_different_timings_give_the_same_version(tmp_path):
    first = make_st_folder(tmp_path / "run1", b"\x00\x01weights", run="12.5 s")
    second = make_st_folder(tmp_path / "run2", b"\x00\x01weights", run="13.1 s")
    assert dir_sha256(first) != dir_sha256(second)  # the old version id (hash of every file) differed
    assert registry.model_identity(first) == registry.model_identity(second)
    names = registry.model_files(first)
    assert "1_Pooling/config.json" in names and "model.safetensors" in names and "tokenizer.json" in names
    assert not {"README.md", "embedforge_training.json", "training_args.bin"} & set(names)
    assert not any(n.startswith("checkpoints") for n in names)


@pytest.mark.parametrize(
    "changed", ["model.safetensors", "tokenizer.json", "1_Pooling/config.json", "modules.json", "config.json"]
)
def test_one_changed_byte_in_a_model_file_gives_another_version(tmp_path, changed):
    first = make_st_folder(tmp_path / "run1", b"\x00\x01weights", run="1")
    second = make_st_folder(tmp_path / "run2", b"\x00\x01weights", run="1")
    data = bytearray((second / changed).read_bytes())
    if changed.endswith(".json"):
        data[1:1] = b" "  # still valid JSON
    else:
        data[-1] ^= 1
    (second / changed).write_bytes(bytes(data))
    assert registry.model_identity(first) != registry.model_identity(second)


def test_two_runs_with_identical_weights_register_one_version(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    refs = [
        ModelRef(path=str(make_st_folder(tmp_path / f"run{i}", b"w", run=str(i))), sha256=f"{i}" * 64, name="c")
        for i in (1, 2)
    ]
    entries = [
        registry.register(ref, True, registry.baseline_for(root, ref, base), root, {}, {"run": i})
        for i, ref in enumerate(refs)
    ]
    assert entries[0].version == entries[1].version and entries[1].promoted
    assert [p.name for p in root.iterdir() if not p.name.startswith(".") and p.is_dir()] == [entries[0].version]
    assert registry.read_manifest(root, entries[0].version)["run"] == 0  # the second registration changed nothing
    assert len(registry.history(root)) == 1


def test_a_folder_without_weights_or_with_an_escaping_module_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(registry.RegistryError, match="holds no weights"):
        registry.model_identity(empty)
    escaping = make_st_folder(tmp_path / "m", b"w", run="1")
    (escaping / "modules.json").write_text(json.dumps([{"path": "../elsewhere"}]))
    with pytest.raises(registry.RegistryError, match="outside"):
        registry.model_identity(escaping)


# ---- register, promote, rollback -------------------------------------------------------------------------------------


def test_register_without_promotion_keeps_the_pointer(tmp_path):
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    entry = registry.register(cand, False, base, tmp_path / "models", {"report.md": "# r"}, {"metrics": {}})
    folder = tmp_path / "models" / entry.version
    assert (folder / "model.safetensors").read_text() == "1"
    assert (folder / "report.md").read_text() == "# r"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == entry.version and manifest["created_at"]
    assert manifest["model_files"] == {
        "model.safetensors": registry.file_sha256(folder / "model.safetensors"),
        "modules.json": registry.file_sha256(folder / "modules.json"),
    }
    assert registry.read_champion(tmp_path / "models") is None
    assert entry.champion == "base" and not entry.promoted


def test_promotion_moves_the_pointer_and_records_its_baseline(tmp_path):
    root = tmp_path / "models"
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    entry = registry.register(cand, True, base, root, {}, {})
    pointer = registry.read_champion(root)
    assert pointer["version"] == entry.version == entry.champion and pointer["sha256"] == cand.sha256
    assert pointer["baseline"] == "base" and pointer["promoted_at"]
    assert registry.champion_ref(root).path == entry.path
    assert registry.history(root) == [
        {"action": "promote", "version": entry.version, "baseline": "base", "by": "gate", "at": pointer["promoted_at"]}
    ]


def test_a_candidate_gated_against_a_stale_champion_is_registered_without_promotion(tmp_path):
    root = tmp_path / "models"
    base, a, b = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    gated_b = registry.baseline_for(root, b, base)  # b's run reads the champion (base) ...
    entry_a = registry.register(
        a, True, registry.baseline_for(root, a, base), root, {}, {}
    )  # ... a is promoted meanwhile
    entry_b = registry.register(b, True, gated_b, root, {}, {})
    assert entry_a.promoted and not entry_b.promoted and entry_b.champion == entry_a.version
    assert f"champion moved from base to {entry_a.version}" in entry_b.note
    assert f"the next run judges against {entry_a.version}" in entry_b.note
    assert registry.read_champion(root)["version"] == entry_a.version
    assert (root / entry_b.version / "manifest.json").is_file()
    assert registry.baseline_for(root, b, base).path == entry_a.path  # b's next run is judged against a
    entry_b = registry.register(b, True, registry.baseline_for(root, b, base), root, {}, {})
    assert entry_b.promoted
    assert_each_baseline_was_the_champion_before(root)


def test_a_run_gated_against_a_champion_rolled_back_since_is_not_promoted(tmp_path):
    root = tmp_path / "models"
    base, a, b = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    registry.register(a, True, base, root, {}, {})
    gated_b = registry.baseline_for(root, b, base)
    assert registry.rollback(root) is None
    entry = registry.register(b, True, gated_b, root, {}, {})
    assert not entry.promoted and f"moved from {registry.version_of(a)} to base" in entry.note
    assert registry.read_champion(root) is None


def test_baseline_is_base_then_champion_and_a_repeat_is_judged_like_the_first(tmp_path):
    root = tmp_path / "models"
    base, first, second = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    assert registry.baseline_for(root, first, base) == base
    registry.register(first, True, base, root, {}, {})
    champion = registry.baseline_for(root, second, base)
    assert champion.sha256 == first.sha256 and champion.path == str((root / registry.version_of(first)).resolve())
    assert registry.baseline_for(root, first, base) == base  # the same candidate again: judged against what it replaced
    registry.register(second, True, champion, root, {}, {})
    assert registry.baseline_for(root, second, base) == champion  # ... and after a second promotion, the first one
    entry = registry.register(second, True, champion, root, {}, {})  # the repeat itself: a no-op that stays champion
    assert entry.promoted and entry.note == "" and len(registry.history(root)) == 2


def test_registering_twice_is_a_no_op_and_reflects_reports_state(tmp_path):
    root = tmp_path / "models"
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    assert not registry.reflects(root, cand, promote=True)
    registry.register(cand, True, base, root, {}, {"n": 1})
    registry.register(cand, True, base, root, {}, {"n": 2})
    assert json.loads((root / registry.version_of(cand) / "manifest.json").read_text())["n"] == 1
    assert registry.reflects(root, cand, promote=True)
    registry.rollback(root)
    assert not registry.reflects(root, cand, promote=True)
    assert registry.reflects(root, cand, promote=False)


def test_extra_files_may_not_replace_model_files(tmp_path):
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    with pytest.raises(registry.RegistryError, match="model.safetensors"):
        registry.register(cand, False, base, tmp_path / "models", {"model.safetensors": b"x"}, {})


def test_crash_while_copying_leaves_no_version_and_the_old_champion(tmp_path, monkeypatch):
    root = tmp_path / "models"
    base, first, second = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    registry.register(first, True, base, root, {}, {})

    def crash(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        registry.register(second, True, registry.baseline_for(root, second, base), root, {}, {})
    monkeypatch.undo()
    assert registry.read_champion(root)["sha256"] == first.sha256
    assert sorted(p.name for p in root.iterdir() if p.name != ".lock") == sorted(
        [registry.version_of(first), "CHAMPION.json"]
    )


def test_rollback_walks_back_to_the_base_model_and_blocks_auto_repromotion(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", True, base, "2026-01-02")
    assert registry.read_champion(root)["sha256"] == b.sha256
    assert registry.rollback(root)["sha256"] == a.sha256
    assert registry.read_champion(root)["baseline"] == "base"  # a takes back its own baseline
    assert registry.rollback(root) is None  # a replaced the base model
    with pytest.raises(registry.RegistryError, match="already the champion"):
        registry.rollback(root)
    # the nightly run produces b again and the gate approves it: it stays out until promoted by hand
    entry = registry.register(b, True, registry.baseline_for(root, b, base), root, {}, {})
    assert not entry.promoted and "rolled back by hand" in entry.note
    assert registry.read_champion(root) is None
    registry.promote(root, registry.version_of(b))
    assert registry.read_champion(root)["sha256"] == b.sha256
    assert [(e["action"], e["version"]) for e in registry.history(root)] == [
        ("promote", registry.version_of(a)),
        ("promote", registry.version_of(b)),
        ("rollback", registry.version_of(a)),
        ("rollback", "base"),
        ("promote", registry.version_of(b)),
    ]
    assert_each_baseline_was_the_champion_before(root)


def test_promote_accepts_only_registered_version_ids(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", False, base, "2026-01-01")
    with pytest.raises(registry.RegistryError, match=registry.version_of(a)):
        registry.promote(root, "nope")
    elsewhere = make_model(tmp_path, "x", "9")  # a real model folder, but outside the registry
    relative = os.path.relpath(elsewhere.path, root)
    with pytest.raises(registry.RegistryError, match="not a registered version id.*a path is not accepted"):
        registry.promote(root, relative)
    with pytest.raises(registry.RegistryError, match="not a registered version id"):
        registry.promote(root, ".")
    assert registry.read_champion(root) is None


# ---- verification and permissions --------------------------------------------------------------------------------


def test_changed_weights_are_refused_on_promote_and_when_the_champion_is_loaded(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", False, base, "2026-01-02")
    (root / registry.version_of(b) / "model.safetensors").write_text("tampered")
    with pytest.raises(registry.RegistryError, match=r"model.safetensors does not match the manifest"):
        registry.promote(root, registry.version_of(b))
    assert registry.read_champion(root)["sha256"] == a.sha256
    weights = root / registry.version_of(a) / "model.safetensors"
    weights.write_text("tampered")
    for load in (lambda: registry.champion_ref(root), lambda: registry.baseline_for(root, b, base)):
        with pytest.raises(registry.RegistryError, match=str(weights)):
            load()


def test_added_or_missing_model_files_and_unverifiable_versions_are_refused(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", False, base, "2026-01-01")
    folder = root / registry.version_of(a)
    (folder / "model-00002.safetensors").write_text("more")
    with pytest.raises(registry.RegistryError, match="model-00002.safetensors.*added after registration"):
        registry.promote(root, registry.version_of(a))
    (folder / "model-00002.safetensors").unlink()
    (folder / "modules.json").unlink()
    with pytest.raises(registry.RegistryError, match="modules.json is missing"):
        registry.promote(root, registry.version_of(a))
    (folder / "modules.json").write_text("[]")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["model_files"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(registry.RegistryError, match="without file checksums"):
        registry.promote(root, registry.version_of(a))


def test_registered_files_are_readable_by_other_accounts(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    cand = ModelRef(path=str(make_st_folder(tmp_path / "run", b"w", run="1")), sha256="0" * 64, name="c")
    os.chmod(os.path.join(cand.path, "model.safetensors"), 0o600)  # as safetensors writes it
    old = os.umask(0o077)  # the strictest umask: modes must come from explicit chmods
    try:
        entry = registry.register(cand, True, base, root, {"report.md": "# r", "report.png": b"png"}, {})
        registry.register(make_model(tmp_path, "b", "2"), True, registry.champion_ref(root), root, {}, {})
        registry.rollback(root)  # writes ROLLED_BACK and CHAMPION.json again
    finally:
        os.umask(old)
    modes = {
        p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in [root, *root.rglob("*")]
        if p.name != ".lock"
    }
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o755 if (root / name).is_dir() else 0o644)}
    assert not wrong
    assert f"{entry.version}/model.safetensors" in modes and "CHAMPION.json" in modes
    assert any(name.endswith("ROLLED_BACK") for name in modes)


# ---- listing and pruning -------------------------------------------------------------------------------------------


def test_list_is_newest_first_and_shows_each_promotion_and_its_baseline(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", False, base, "2026-01-02")
    c = registered(tmp_path, root, "c", "3", True, base, "2026-01-03")
    va, vb, vc = (registry.version_of(x) for x in (a, b, c))
    rows = registry.list_versions(root)
    assert [r["version"] for r in rows] == [vc, vb, va]
    assert [r["champion"] for r in rows] == [True, False, False]
    assert [r["baseline"] for r in rows] == [va, None, "base"]
    assert rows[1]["promoted_at"] is None and rows[0]["promoted_at"] and rows[2]["promoted_at"]
    registry.promote(root, vb)  # by hand, over c
    registry.rollback(root)  # back to c, which keeps its own baseline
    registry.promote(root, va)
    rows = {r["version"]: r for r in registry.list_versions(root)}
    assert rows[vb]["baseline"] == vc and rows[vb]["rolled_back"] and not rows[vb]["champion"]
    assert rows[va]["baseline"] == vc and rows[va]["champion"]
    assert_each_baseline_was_the_champion_before(root)


def test_models_list_json_gives_the_promotion_fields(tmp_path, capsys):
    from flows import cli

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    registered(tmp_path, root, "b", "2", False, base, "2026-01-02")
    assert cli.main(["models", "list", "--root", str(root), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["champion"] == registry.version_of(a)
    for row in payload["versions"]:
        assert {"version", "created_at", "champion", "promoted_at", "baseline"} <= set(row)
    champion = next(r for r in payload["versions"] if r["champion"])
    assert champion["baseline"] == "base" and champion["promoted_at"] == payload["history"][0]["at"]
    assert [r["promoted_at"] for r in payload["versions"] if not r["champion"]] == [None]
    assert cli.main(["models", "list", "--root", str(root)]) == 0
    table = capsys.readouterr().out
    assert f"* {registry.version_of(a)}" in table and "base" in table


def test_models_promote_refuses_a_path_with_a_clear_error(tmp_path, capsys):
    from flows import cli

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", False, base, "2026-01-01")
    assert cli.main(["models", "promote", "../elsewhere/x", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "RegistryError" in err and "not a registered version id" in err and registry.version_of(a) in err
    assert cli.main(["models", "promote", registry.version_of(a), "--root", str(root)]) == 0
    assert f"champion is now {registry.version_of(a)}" in capsys.readouterr().out


def test_prune_keeps_the_newest_and_never_the_champion_or_its_predecessor(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    old_champion = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    champion = registered(tmp_path, root, "b", "2", True, base, "2026-01-02")
    others = [registered(tmp_path, root, f"c{i}", f"3{i}", False, base, f"2026-01-0{3 + i}") for i in range(4)]
    removed = registry.prune(root, keep=2)
    assert set(removed) == {registry.version_of(others[0]), registry.version_of(others[1])}
    left = {r["version"] for r in registry.list_versions(root)}
    assert left == {registry.version_of(x) for x in (old_champion, champion, others[2], others[3])}
    assert not any(p.name.startswith(".trash") for p in root.iterdir())


def test_rollback_to_a_version_that_is_gone_says_so(tmp_path):
    import shutil

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", True, base, "2026-01-02")
    shutil.rmtree(root / registry.version_of(a))  # deleted by hand (prune never removes the champion's baseline)
    with pytest.raises(
        registry.RegistryError, match=f"{registry.version_of(a)}, the model it replaced, is no longer in"
    ):
        registry.rollback(root)
    assert registry.read_champion(root)["sha256"] == b.sha256
    assert not (root / registry.version_of(b) / registry.ROLLED_BACK).exists()


def test_each_model_line_has_its_own_champion_history_and_rollback(tmp_path, capsys):
    from flows import cli

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    legal, medical = registry.line_root(root, "contracts"), registry.line_root(root, "nfcorpus")
    assert registry.line_root(root) == root  # the default line is where a registry kept everything before lines
    old = registered(tmp_path, root, "old", "1", True, base, "2026-01-01")
    a = registered(tmp_path, legal, "a", "2", True, base, "2026-01-02")
    b = registered(tmp_path, medical, "b", "3", False, base, "2026-01-03")
    # a candidate on one line is judged against that line's champion, never another line's
    c = make_model(tmp_path, "c", "4")
    assert registry.baseline_for(medical, c, base) == base
    assert registry.baseline_for(legal, c, base).sha256 == a.sha256
    assert registry.read_champion(root)["version"] == registry.version_of(old)
    assert registry.read_champion(legal)["version"] == registry.version_of(a)
    assert registry.read_champion(medical) is None and [r["version"] for r in registry.list_versions(medical)] == [
        registry.version_of(b)
    ]
    assert registry.lines(root) == ["default", "contracts", "nfcorpus"]
    # rolling one line back leaves the others' champions where they were
    assert cli.main(["models", "rollback", "--root", str(root), "--line", "contracts"]) == 0
    assert "line contracts: champion is now the base model" in capsys.readouterr().out
    assert registry.read_champion(legal) is None
    assert registry.read_champion(root)["version"] == registry.version_of(old)
    assert cli.main(["models", "list", "--root", str(root), "--line", "nfcorpus", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["line"] == "nfcorpus" and payload["champion"] is None
    assert [r["version"] for r in payload["versions"]] == [registry.version_of(b)]
    assert cli.main(["models", "list", "--root", str(root)]) == 0
    table = capsys.readouterr().out
    assert "other model lines: contracts, nfcorpus" in table and registry.version_of(a) not in table
    with pytest.raises(ValueError, match="registry.line"):
        from tasks.config import load_config

        load_config(None, ["registry.line=../escape"])
