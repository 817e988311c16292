"""Cron expressions: Harbor's six fields (seconds first) and the classic five, through croniter.

The grammar accepted is written once, as a regular expression (CRON_PATTERN), which
the API's schema states too: each field is ``*``, a value, or a range, each with an
optional ``/step``, or a comma-separated list of those; ``?`` may stand for a day;
months and weekdays may be named in capitals (JAN, MON). croniter computes the
runs. An expression that no date matches (February 30th) is valid and never fires,
as in cron.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from croniter import CroniterBadDateError, CroniterError, croniter

from dockyard.errors import InvalidInput

CRON_MAX_LENGTH = 255


def _field(value: str, *, any_day: bool = False) -> str:
    step = r"/[1-9][0-9]?"
    item = rf"(?:\*(?:{step})?|{value}(?:-{value})?(?:{step})?)"
    listed = rf"{item}(?:,{item})*"
    return rf"(?:\?|{listed})" if any_day else listed


_SECOND = _MINUTE = _field(r"[0-5]?[0-9]")
_HOUR = _field(r"(?:[01]?[0-9]|2[0-3])")
_DAY = _field(r"(?:0?[1-9]|[12][0-9]|3[01])", any_day=True)
_MONTH = _field(r"(?:0?[1-9]|1[0-2]|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)")
_WEEKDAY = _field(r"(?:[0-7]|SUN|MON|TUE|WED|THU|FRI|SAT)", any_day=True)
_FIVE = " ".join((_MINUTE, _HOUR, _DAY, _MONTH, _WEEKDAY))
_ALIASES = r"@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)"
CRON_PATTERN = rf"^(?:{_SECOND} {_FIVE}|{_FIVE}|{_ALIASES})$"
_CRON = re.compile(CRON_PATTERN)


def check_cron(expression: str) -> str:
    """The expression with single spaces, if valid; InvalidInput with the grammar if not."""
    normalised = " ".join(expression.split())
    if len(normalised) > CRON_MAX_LENGTH or not _CRON.match(normalised):
        raise InvalidInput(
            f"invalid cron expression {expression[:CRON_MAX_LENGTH]!r}: give six fields "
            '(second minute hour day-of-month month day-of-week, e.g. "0 0 3 * * *" for daily '
            "at 03:00 UTC), five (minute hour day-of-month month day-of-week), or an alias "
            'like "@daily"; a field is *, a number, a range a-b, any of them with /step, or '
            "a comma-separated list; months and weekdays may be named in capitals (JAN, MON)"
        )
    next_run(normalised, datetime.now(UTC))
    return normalised


def next_run(expression: str, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` that ``expression`` fires at, in UTC; None
    when no date matches it. Times are UTC."""
    fields = expression.split()
    try:
        following = croniter(
            " ".join(fields), after.astimezone(UTC), second_at_beginning=len(fields) == 6
        ).get_next(datetime)
    except CroniterBadDateError:
        return None
    except (CroniterError, ValueError, OverflowError) as exc:
        raise InvalidInput(f"invalid cron expression {expression!r}: {exc}") from None
    return following.astimezone(UTC)
