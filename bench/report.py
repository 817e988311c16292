"""The markdown report: the machine, the plan, then one table row per figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.cpu import CpuShare
from bench.rows import RowSpec
from bench.targets import TARGET_TITLES

FAILED = "failed"


@dataclass
class Results:
    """Figures per target and row key; a row that failed holds its error message."""

    targets: list[str]
    rows: list[RowSpec]
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    cpu: dict[str, CpuShare] = field(default_factory=dict)

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
            f"- {TARGET_TITLES[target]}: server {share.server_seconds:.1f} s, client and wrk "
            f"{share.client_seconds:.1f} s, other processes {share.other_seconds:.1f} s "
            f"({share.other_percent:.1f}% of the machine over {share.wall_seconds:.0f} s)"
            for target, share in results.cpu.items()
        ]
        lines.append("")
    titles = [TARGET_TITLES[target] for target in results.targets]
    header = ["Row", "Unit", "Better", *titles]
    compare = results.targets == ["dockyard", "distribution"]
    if compare:
        header.append("dockyard / Distribution")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---", "---", "---"] + ["---:"] * (len(header) - 3)) + "|")
    for row in results.rows:
        cells = [row.label, row.unit, row.better]
        values = [results.figures.get(target, {}).get(row.key) for target in results.targets]
        for target, value in zip(results.targets, values, strict=True):
            cells.append(_format(value) if value is not None else _error_cell(results, target, row))
        if compare:
            mine, theirs = values
            cells.append(_ratio(row, mine, theirs))
        lines.append("| " + " | ".join(cells) + " |")
    errors = [
        f"- {TARGET_TITLES[target]}, {', '.join(keys)}: {message}"
        for target, by_key in results.errors.items()
        for message, keys in _group_by_message(by_key).items()
    ]
    if errors:
        lines += ["", "## Failed rows", "", *errors]
    return "\n".join(lines) + "\n"


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
