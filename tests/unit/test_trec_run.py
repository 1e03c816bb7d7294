from __future__ import annotations

import pytest

from tasks.ingest import DataError
from tasks.ingest.trec import read_run


def test_reads_scores_and_ignores_the_rank_column(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 2 0.9 sys\nq1 Q0 d2 1 0.8 sys\nq2 Q0 d1 1 -1.5 sys\n")
    assert read_run(path) == {"q1": {"d1": 0.9, "d2": 0.8}, "q2": {"d1": -1.5}}


def test_bad_lines_name_file_line_and_reason(tmp_path):
    path = tmp_path / "run.txt"
    path.write_text("q1 Q0 d1 1 0.9 sys\nq1 Q0 d2 1 high sys\nq1 d3 1 0.1\nq1 Q0 d1 3 0.2 sys\n")
    with pytest.raises(DataError) as err:
        read_run(path)
    found = {(f.row, f.column, f.check) for f in err.value.findings}
    assert found == {(2, "score", "number"), (3, "-", "column_count"), (4, "docid", "unique_per_query")}
