from __future__ import annotations

import os

import pytest

from tasks import datasets
from tasks.ingest import DataError
from tests.conftest import write_beir


def test_add_copies_into_a_new_content_addressed_version(tmp_path):
    source = tmp_path / "pairs.csv"
    source.write_text("anchor,positive\ncap on damages,limitation of liability\n")
    before = source.read_bytes()
    v = datasets.add(source, "contracts", tmp_path / "store")
    assert v.new and v.path.endswith("pairs.csv")
    assert source.read_bytes() == before  # the user's file is untouched
    assert os.path.realpath(tmp_path / "store" / "contracts" / "latest") == os.path.dirname(v.path)
    again = datasets.add(source, "contracts", tmp_path / "store")
    assert not again.new and again.path == v.path
    source.write_text("anchor,positive\nlate fees,interest on overdue amounts\n")
    newer = datasets.add(source, "contracts", tmp_path / "store")
    assert newer.new and len(datasets.versions(tmp_path / "store", "contracts")) == 2  # versions only accumulate


def test_beir_folders_are_versioned_whole(tmp_path):
    folder = write_beir(tmp_path / "beir")
    v = datasets.add(folder, "tiny", tmp_path / "store")
    assert (tmp_path / "store" / "tiny" / v.sha256[:16] / "qrels" / "test.tsv").is_file()


@pytest.mark.parametrize("name", ["../escape", "a/b", "", ".hidden", "x" * 65, "a..b"])
def test_unsafe_names_are_refused(name):
    with pytest.raises(ValueError, match="not allowed"):
        datasets.check_name(name)


def test_invalid_input_is_rejected_with_its_rows(tmp_path):
    bad = tmp_path / "sts.csv"
    bad.write_text("sentence1,sentence2,score\na,b,9\n")
    with pytest.raises(DataError) as err:
        datasets.validate_input(bad)
    assert err.value.findings[0].check == "in_range_0_5"


def test_a_symbolic_link_inside_the_source_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the dataset\n")
    folder = write_beir(tmp_path / "beir")
    (folder / "notes.txt").symlink_to(outside)
    with pytest.raises(DataError, match=r"notes.txt is a symbolic link .* copies only the regular files"):
        datasets.add(folder, "tiny", tmp_path / "store")
    assert not (tmp_path / "store" / "tiny").exists() or not datasets.versions(tmp_path / "store", "tiny")


def test_a_symbolic_link_at_the_datasets_path_in_the_store_is_refused(tmp_path):
    source = tmp_path / "pairs.csv"
    source.write_text("anchor,positive\ncap on damages,limitation of liability\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "contracts").symlink_to(elsewhere)
    with pytest.raises(DataError, match=r"contracts is a symbolic link .* remove the link"):
        datasets.add(source, "contracts", tmp_path / "store")
    assert list(elsewhere.iterdir()) == []  # nothing was written through the link


def test_a_dataset_smaller_than_the_triggered_runs_batch_is_refused(tmp_path):
    from tasks.config import PipelineConfig, load_config

    source = tmp_path / "pairs.csv"
    source.write_text(
        "anchor,positive\n" + "".join(f"question {i} about clause {i},clause {i} text\n" for i in range(30))
    )
    cfg, where = datasets.trigger_config(None, [], None)
    assert cfg == PipelineConfig() and where == "the defaults"
    with pytest.raises(
        DataError, match=r"gives \d+ training pair\(s\) .* fewer than train.batch_size=32 .* the defaults"
    ):
        datasets.check_trainable(source, cfg, where)
    small, where = datasets.trigger_config(None, ["train.batch_size=8"], None)
    assert where == "--config/--set" and 8 <= datasets.check_trainable(source, small, where) < 30
    with pytest.raises(DataError, match=r"after the train.dev_fraction=0.4 hold-out"):
        datasets.check_trainable(source, load_config(None, ["train.batch_size=24", "train.dev_fraction=0.4"]), "x")


def test_the_triggered_runs_own_table_settings_are_what_is_checked(tmp_path):
    """data add --columns maps this file, but the triggered run reads data.columns of its config: say so before storing."""
    source = tmp_path / "faq.csv"
    source.write_text("question,answer\n" + "".join(f"question {i},answer {i}\n" for i in range(10)))
    cfg, where = datasets.trigger_config(None, ["train.batch_size=2"], None)
    with pytest.raises(DataError, match=r"the run this dataset would trigger \(config: --config/--set\) cannot use it"):
        datasets.check_trainable(source, cfg, where)
