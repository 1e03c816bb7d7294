from __future__ import annotations

import json
import os

import pytest

from tasks import registry
from tasks.storage import ModelRef


def make_model(tmp_path, name: str, weights: str) -> ModelRef:
    folder = tmp_path / "store" / name
    folder.mkdir(parents=True)
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_text(weights)
    from tasks.storage import dir_sha256

    return ModelRef(path=str(folder), sha256=dir_sha256(folder), name=name)


def test_register_without_promotion_keeps_the_pointer(tmp_path):
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    entry = registry.register(cand, False, base, tmp_path / "models", {"report.md": "# r"}, {"metrics": {}})
    folder = tmp_path / "models" / entry.version
    assert (folder / "model.safetensors").read_text() == "1"
    assert (folder / "report.md").read_text() == "# r"
    assert json.loads((folder / "manifest.json").read_text())["version"] == entry.version
    assert registry.read_champion(tmp_path / "models") is None
    assert entry.champion == "base"


def test_promotion_moves_the_pointer_and_remembers_the_previous_champion(tmp_path):
    root = tmp_path / "models"
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    entry = registry.register(cand, True, base, root, {}, {})
    pointer = registry.read_champion(root)
    assert pointer["version"] == entry.version and pointer["sha256"] == cand.sha256
    assert pointer["previous"]["sha256"] == base.sha256
    assert registry.champion_ref(root).path == entry.path


def test_baseline_is_base_then_champion_and_a_repeat_is_judged_like_the_first(tmp_path):
    root = tmp_path / "models"
    base, first, second = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    assert registry.baseline_for(root, first, base) == base
    registry.register(first, True, base, root, {}, {})
    assert registry.baseline_for(root, second, base).sha256 == first.sha256
    assert registry.baseline_for(root, first, base) == base  # the same candidate again: judged against what it replaced


def test_registering_twice_is_a_no_op_and_reflects_reports_state(tmp_path):
    root = tmp_path / "models"
    base, cand = make_model(tmp_path, "base", "0"), make_model(tmp_path, "cand", "1")
    assert not registry.reflects(root, cand, promote=True)
    registry.register(cand, True, base, root, {}, {"n": 1})
    registry.register(cand, True, base, root, {}, {"n": 2})
    assert json.loads((root / registry.version_of(cand) / "manifest.json").read_text())["n"] == 1
    assert registry.reflects(root, cand, promote=True)
    registry.set_champion(root, base, "base", None)  # e.g. a rollback
    assert not registry.reflects(root, cand, promote=True)
    assert registry.reflects(root, cand, promote=False)


def test_crash_while_copying_leaves_no_version_and_the_old_champion(tmp_path, monkeypatch):
    root = tmp_path / "models"
    base, first, second = (make_model(tmp_path, n, w) for n, w in (("base", "0"), ("a", "1"), ("b", "2")))
    registry.register(first, True, base, root, {}, {})

    def crash(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        registry.register(second, True, first, root, {}, {})
    monkeypatch.undo()
    assert registry.read_champion(root)["sha256"] == first.sha256
    assert sorted(p.name for p in root.iterdir()) == sorted([registry.version_of(first), "CHAMPION.json"])


def registered(tmp_path, root, name, weights, promote, baseline, when):
    ref = make_model(tmp_path, name, weights)
    registry.register(ref, promote, baseline, root, {}, {"created_at": when, "model": ref.model_dump(),
                                                         "judged_against": baseline.model_dump(), "decision": {"promote": promote}})
    return ref


def test_rollback_walks_back_to_the_base_model_and_blocks_auto_repromotion(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", True, a, "2026-01-02")
    assert registry.read_champion(root)["sha256"] == b.sha256
    assert registry.rollback(root)["sha256"] == a.sha256
    assert registry.rollback(root) is None  # a replaced the base model
    with pytest.raises(registry.RegistryError, match="already the champion"):
        registry.rollback(root)
    # the nightly run produces b again and the gate approves it: it stays out until promoted by hand
    entry = registry.register(b, True, base, root, {}, {})
    assert not entry.promoted and "rolled back by hand" in entry.note
    assert registry.read_champion(root) is None
    registry.promote(root, registry.version_of(b))
    assert registry.read_champion(root)["sha256"] == b.sha256


def test_promote_unknown_version_names_the_known_ones(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", False, base, "2026-01-01")
    with pytest.raises(registry.RegistryError, match=registry.version_of(a)):
        registry.promote(root, "nope")


def test_list_is_newest_first_and_marks_the_champion(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", False, a, "2026-01-02")
    rows = registry.list_versions(root)
    assert [r["version"] for r in rows] == [registry.version_of(b), registry.version_of(a)]
    assert [r["champion"] for r in rows] == [False, True]


def test_prune_keeps_the_newest_and_never_the_champion_or_its_predecessor(tmp_path):
    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    old_champion = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    champion = registered(tmp_path, root, "b", "2", True, old_champion, "2026-01-02")
    others = [registered(tmp_path, root, f"c{i}", f"3{i}", False, champion, f"2026-01-0{3 + i}") for i in range(4)]
    removed = registry.prune(root, keep=2)
    assert set(removed) == {registry.version_of(others[0]), registry.version_of(others[1])}
    left = {r["version"] for r in registry.list_versions(root)}
    assert left == {registry.version_of(x) for x in (old_champion, champion, others[2], others[3])}
    assert not any(p.name.startswith(".trash") for p in root.iterdir())


KILLER = """
import sys
from tasks import registry
from tasks.storage import ModelRef
root, a, b = sys.argv[1], ModelRef.model_validate_json(sys.argv[2]), ModelRef.model_validate_json(sys.argv[3])
print("ready", flush=True)
i = 0
while True:
    ref = (a, b)[i % 2]
    registry.set_champion(root, ref, registry.version_of(ref), None)
    i += 1
"""


def test_killing_a_writer_mid_write_never_leaves_a_broken_pointer(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "models"
    base = make_model(tmp_path, "base", "0")
    a = registered(tmp_path, root, "a", "1", True, base, "2026-01-01")
    b = registered(tmp_path, root, "b", "2", False, a, "2026-01-02")
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(root), a.model_dump_json(), b.model_dump_json()],
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        pointer = registry.read_champion(root)  # must parse
        assert pointer["sha256"] in {a.sha256, b.sha256}
        assert (root / pointer["version"] / "manifest.json").is_file()
