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
