"""A schedule an operator sets by Harbor's schedule types (garbage collection, scan all).

Each is the one schedule of a fixed name that enqueues one kind of job; Harbor's
presets map onto cron expressions, and "None" disables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from dockyard.errors import InvalidInput, NotFound
from dockyard.jobs.schedules import ScheduleService

ScheduleType = Literal["None", "Hourly", "Daily", "Weekly", "Custom"]
# Harbor's presets, in its six fields (seconds first), UTC.
PRESETS: dict[ScheduleType, str] = {
    "Hourly": "0 0 * * * *",
    "Daily": "0 0 0 * * *",
    "Weekly": "0 0 0 * * 0",
}


@dataclass(frozen=True, slots=True)
class NamedScheduleInfo:
    type: ScheduleType
    cron: str
    next_run_at: datetime | None
    parameters: dict[str, Any]
    created_at: datetime | None
    updated_at: datetime | None


class NamedSchedule:
    def __init__(self, schedules: ScheduleService, name: str, kind: str) -> None:
        self.schedules = schedules
        self.name = name
        self.kind = kind

    async def get(self) -> NamedScheduleInfo:
        try:
            info = await self.schedules.get_by_name(self.name)
        except NotFound:
            return NamedScheduleInfo("None", "", None, {}, None, None)
        kind: ScheduleType = "None"
        if info.enabled:
            kind = next((k for k, cron in PRESETS.items() if cron == info.cron), "Custom")
        return NamedScheduleInfo(
            kind, info.cron, info.next_run_at, info.payload, info.created_at, info.updated_at
        )

    async def set(
        self, kind: ScheduleType, cron: str | None, parameters: dict[str, Any]
    ) -> NamedScheduleInfo:
        """Run on a preset or a custom cron expression, or (``None``) not by schedule."""
        if kind == "Custom":
            if not cron:
                raise InvalidInput("a Custom schedule needs a cron expression")
            expression = cron
        elif kind != "None":
            expression = PRESETS[kind]
        try:
            current = await self.schedules.get_by_name(self.name)
        except NotFound:
            if kind != "None":
                await self.schedules.create(self.name, self.kind, expression, parameters)
        else:
            if kind == "None":
                await self.schedules.update(current.id, enabled=False, payload=parameters)
            else:
                await self.schedules.update(
                    current.id, cron=expression, payload=parameters, enabled=True
                )
        return await self.get()
