"""The base of every request body: strict types, so that ``false`` is not a number."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

# The largest integer a JSON number carries exactly (and so every client and fuzzer).
MAX_INT = 2**53 - 1
# The largest row id: PostgreSQL's ``integer``, the type of the id columns.
MAX_ID = 2**31 - 1


class Body(BaseModel):
    model_config = ConfigDict(strict=True)
    # Fields of free JSON, stored encoded (where a NUL is only an escape): not checked.
    free_json: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers(cls, data: Any) -> Any:
        """JSON says 3.0 is the integer 3; strict mode alone would refuse it. And no text
        holds a NUL character, which PostgreSQL cannot store (refused here, as 400)."""
        checked = (
            {key: value for key, value in data.items() if key not in cls.free_json}
            if isinstance(data, dict)
            else data
        )
        if _holds_nul(checked):
            raise ValueError("NUL characters (\\u0000) are not allowed")
        if isinstance(data, dict):
            return {
                key: int(value) if isinstance(value, float) and value.is_integer() else value
                for key, value in data.items()
            }
        return data


def _holds_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_holds_nul(key) or _holds_nul(value) for key, value in data.items())
    if isinstance(data, list):
        return any(_holds_nul(item) for item in data)
    return False
