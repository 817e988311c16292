"""Who is asking: the identity a request was authenticated as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["anonymous", "user", "robot"]
    name: str
    id: int | None = None
    admin: bool = False
    # The groups a user was in at their last login, by id.
    group_ids: tuple[int, ...] = field(default=())

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"


ANONYMOUS = Principal("anonymous", "")
