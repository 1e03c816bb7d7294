from __future__ import annotations

import os

import polars as pl
import pytest

from tasks.storage import StoreError, atomic_write_text, dir_sha256, read_frame, write_frame


def test_write_frame_is_content_addressed(tmp_path):
    frame = pl.DataFrame({"a": ["x", "y"], "b": [1, 2]})
    first = write_frame(frame, tmp_path, "pairs")
    second = write_frame(frame, tmp_path, "pairs")
    assert first == second
    assert first.rows == 2
    assert os.path.basename(first.path) == first.sha256[:16] + ".parquet"
    assert read_frame(first).equals(frame)
    other = write_frame(frame.with_columns(pl.lit(3).alias("b")), tmp_path, "pairs")
    assert other.sha256 != first.sha256


def test_read_frame_refuses_changed_or_missing_files(tmp_path):
    ref = write_frame(pl.DataFrame({"a": [1]}), tmp_path, "x")
    with open(ref.path, "ab") as handle:
        handle.write(b"junk")
    with pytest.raises(StoreError, match="changed"):
        read_frame(ref)
    os.remove(ref.path)
    with pytest.raises(StoreError, match="missing"):
        read_frame(ref)


def test_dir_hash_follows_content_and_names(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a.txt").write_text("1")
    before = dir_sha256(tmp_path / "m")
    (tmp_path / "m" / "a.txt").write_text("2")
    changed = dir_sha256(tmp_path / "m")
    (tmp_path / "m" / "a.txt").rename(tmp_path / "m" / "b.txt")
    renamed = dir_sha256(tmp_path / "m")
    assert len({before, changed, renamed}) == 3


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "pointer.json"
    atomic_write_text(target, "old")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["pointer.json"]  # no temp file left behind
