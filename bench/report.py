"""The markdown report: the machine, the plan, then one table row per figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import CpuShare
from bench.rows import RowSpec
from bench.services import SERVICE_TITLES
from bench.targets import TARGET_TITLES

FAILED = "failed"
# dockyard's column and the Distribution column it is compared with, on the same storage.
PAIRS = (("dockyard", "distribution"), ("dockyard-pg-s3", "distribution-s3"))


@dataclass
class Results:
    """Figures per target and row key; a row that failed holds its error message."""

    targets: list[str]
    rows: list[RowSpec]
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    cpu: dict[str, CpuShare] = field(default_factory=dict)
    # Per target: how some of its rows ran differently (bench.session.Session.remark).
    remarks: dict[str, list[str]] = field(default_factory=dict)

    def record(self, target: str, figures: dict[str, float]) -> None:
        self.figures.setdefault(target, {}).update(figures)

    def fail(self, target: str, keys: Sequence[str], message: str) -> None:
        for key in keys:
            self.errors.setdefault(target, {})[key] = message

    @property
    def failed(self) -> bool:
        return any(self.errors.values())


def render(results: Results, machine: Sequence[tuple[str, str]], notes: Sequence[str]) -> str:
    """The whole report as markdown."""
    lines = ["# dockyard vs CNCF Distribution", ""]
    lines += [f"- **{name}**: {value}" for name, value in machine]
    lines += ["", *notes, ""]
    if results.cpu:
        lines += ["CPU time while each registry ran, from its start to its stop:", ""]
        lines += [
            f"- {TARGET_TITLES[target]}: server {share.server_seconds:.1f} s, "
            + "".join(
                f"{SERVICE_TITLES.get(name, name)} {seconds:.1f} s, "
                for name, seconds in share.service_seconds.items()
            )
            + f"client and wrk {share.client_seconds:.1f} s, other processes "
            f"{share.other_seconds:.1f} s ({share.other_percent:.1f}% of the machine over "
            f"{share.wall_seconds:.0f} s)"
            for target, share in results.cpu.items()
        ]
        lines.append("")
    columns = _columns(results.targets)
    header = ["Row", "Unit", "Better", *(_title(column) for column in columns)]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---", "---"] + ["---:"] * (len(header) - 3)) + "|")
    for row in results.rows:
        cells = [row.label, row.unit, row.better]
        for column in columns:
            if isinstance(column, tuple):
                mine, theirs = (results.figures.get(t, {}).get(row.key) for t in column)
                cells.append(_ratio(row, mine, theirs))
                continue
            value = results.figures.get(column, {}).get(row.key)
            cells.append(_format(value) if value is not None else _error_cell(results, column, row))
        lines.append("| " + " | ".join(cells) + " |")
    errors = [
        f"- {TARGET_TITLES[target]}, {', '.join(keys)}: {message}"
        for target, by_key in results.errors.items()
        for message, keys in _group_by_message(by_key).items()
    ]
    if errors:
        lines += ["", "## Failed rows", "", *errors]
    remarks = [
        f"- {TARGET_TITLES[target]}, {remark}"
        for target, messages in results.remarks.items()
        for remark in messages
    ]
    if remarks:
        lines += ["", "## How some rows ran", "", *remarks]
    return "\n".join(lines) + "\n"


def _columns(targets: Sequence[str]) -> list[str | tuple[str, str]]:
    """Each target's column, and after the two targets of a pair, their ratio's."""
    columns: list[str | tuple[str, str]] = []
    for target in targets:
        columns.append(target)
        for pair in PAIRS:
            if target == pair[1] and pair[0] in targets:
                columns.append(pair)
    return columns


def _title(column: str | tuple[str, str]) -> str:
    if isinstance(column, tuple):
        return " / ".join(TARGET_TITLES[target] for target in column)
    return TARGET_TITLES[column]


def _ratio(row: RowSpec, mine: float | None, theirs: float | None) -> str:
    if not row.compare or mine is None or theirs is None:
        return "—"
    if min(mine, theirs) < row.ratio_floor or not theirs:
        return "—"
    return f"{mine / theirs:.2f}"


def _group_by_message(errors: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, message in errors.items():
        grouped.setdefault(message, []).append(key)
    return grouped


def _error_cell(results: Results, target: str, row: RowSpec) -> str:
    return FAILED if row.key in results.errors.get(target, {}) else "—"


def _format(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
