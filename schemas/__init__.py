"""Pandera DataFrameModels, one module per dataset type, for the polars frames that travel between tasks."""

from __future__ import annotations

from schemas.ir import CorpusSchema, QrelsSchema, QueriesSchema
from schemas.negatives import MinedNegativeSchema
from schemas.pairs import PairSchema

__all__ = ["CorpusSchema", "MinedNegativeSchema", "PairSchema", "QrelsSchema", "QueriesSchema"]
