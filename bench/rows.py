"""What a workload is: the table rows it fills, and the function that measures them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bench.plan import Plan

if TYPE_CHECKING:
    from bench.session import Session

Figures = dict[str, float]


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: the same label and unit for both targets."""

    key: str
    label: str
    unit: str
    better: Literal["higher", "lower"]
    # Below this, a figure is noise and a ratio of two of them means nothing.
    ratio_floor: float = 0.0
    # False for a row that is itself a ratio within one target: no dockyard / Distribution.
    compare: bool = True


@dataclass(frozen=True)
class Workload:
    """A measurement selected with ``--only ID``; ``run`` returns a figure per row key."""

    id: str
    summary: str
    rows: Callable[[Plan], list[RowSpec]]
    run: Callable[[Session], Figures]
    # The targets it measures (None: every one); the others' cells say "—".
    targets: frozenset[str] | None = None

    def measures(self, target: str) -> bool:
        return self.targets is None or target in self.targets
