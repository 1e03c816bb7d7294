"""What a mining strategy is: a name, its typed parameters and the function that finds its candidates.

Each strategy module ends with one declaration, `STRATEGY = Strategy(name, Params, find, reads_vectors)`, and the
index (tasks/mining/__init__.py) lists the module once. Everything else is derived from that: the names and parameters
the config accepts (tasks/config.py: StrategyConfig), the values the mined-negatives schema allows, whether mining
needs base-model embeddings, the `embedforge strategies` table, and the mining step's cache key (the index reaches
every strategy module, so tasks/codehash.py hashes them all).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from pydantic import BaseModel, ConfigDict

from tasks.mining.candidates import Candidates, MiningInput

RANDOM = "random"  # the `strategy` of a random fill negative: not a strategy, so no module may take the name


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, and an unknown key is an error (as every config section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Strategy:
    """name: the config's `mining.strategies[].name`; params: its parameter model (defaults = no `params` given);
    find(inp, k, params) -> Candidates; reads_vectors: whether it needs base-model embeddings (or a function of its
    params that says so)."""

    name: str
    params: type[StrategyParams]
    find: Callable[[MiningInput, int, StrategyParams], Candidates]
    reads_vectors: bool | Callable[[StrategyParams], bool] = False

    def needs_vectors(self, params: StrategyParams) -> bool:
        return self.reads_vectors(params) if callable(self.reads_vectors) else self.reads_vectors

    @property
    def summary(self) -> str:
        """The first line of the strategy module's docstring."""
        doc = sys.modules[self.find.__module__].__doc__ or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""


def index(*modules: ModuleType) -> dict[str, Strategy]:
    """{name: Strategy} of the given strategy modules (each declares STRATEGY), refusing a repeated or reserved name."""
    found: dict[str, Strategy] = {}
    for module in modules:
        declared = getattr(module, "STRATEGY", None)
        if not isinstance(declared, Strategy):
            raise TypeError(f"{module.__name__} declares no STRATEGY = Strategy(...)")
        register(found, declared)
    return found


def register(strategies: dict[str, Strategy], declared: Strategy) -> None:
    if declared.name in strategies or declared.name == RANDOM:
        raise ValueError(f"mining strategy name {declared.name!r} is taken")
    strategies[declared.name] = declared


def params_table(params: type[StrategyParams]) -> str:
    """'engine=bm25s, …': every parameter with its default, for the strategies table."""
    return ", ".join(f"{name}={field.default!r}" for name, field in params.model_fields.items()) or "none"
