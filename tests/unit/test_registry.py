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
