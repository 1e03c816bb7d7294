"""Validation findings that name file, row, column and reason, and the error that carries them."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandera.polars as pa
import polars as pl

SHOWN = 10  # findings quoted in an error message; the rest are counted


@dataclass(frozen=True)
class Finding:
    """One bad value: `row` is the 1-based line in `file` (0 when the finding is about the whole file)."""

    file: str
    row: int
    column: str
    check: str
    value: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row} {self.column} — {self.check} ({self.value})"


class DataError(ValueError):
    """Input data that cannot be used as it is. Deterministic: retrying will not help."""

    def __init__(self, summary: str, findings: list[Finding]):
        self.summary = summary
        self.findings = findings
        if not findings:
            super().__init__(summary)
            return
        lines = [str(f) for f in findings[:SHOWN]]
        more = f"\n  … and {len(findings) - SHOWN} more" if len(findings) > SHOWN else ""
        super().__init__(f"{summary}: {len(findings)} problem(s)\n  " + "\n  ".join(lines) + more)


class EmptyData(DataError):
    """Input that holds no records (a file with only a header, an empty corpus): nothing could be trained on it."""


def findings_from_schema_errors(exc: pa.errors.SchemaErrors, file: str, lines: list[int]) -> list[Finding]:
    """Turn pandera's failure_cases into findings; `lines[i]` is the file line of frame row i."""
    cases: pl.DataFrame = exc.failure_cases
    findings = []
    for case in cases.iter_rows(named=True):
        index = case["index"]
        row = lines[index] if index is not None and 0 <= index < len(lines) else 0
        value = str(case["failure_case"])
        findings.append(Finding(file, row, str(case["column"]), str(case["check"]), value[:120]))
    return sorted(findings, key=lambda f: (f.row, f.column))


def findings_frame(findings: list[Finding]) -> pl.DataFrame:
    """Findings as a table (file, row, column, check, value): what a quarantine file holds."""
    return pl.DataFrame(
        [asdict(f) for f in findings],
        schema={"file": pl.String, "row": pl.Int64, "column": pl.String, "check": pl.String, "value": pl.String},
    )
