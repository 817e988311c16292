"""Labels, as on Harbor: global ones that system admins manage and every project may
use, and project ones that a project's maintainers manage for its own artifacts.

An artifact carries any number of labels; the artifact list filters by them, and
retention and replication filters will match them. Deleting a label takes it off
every artifact; deleting an artifact or a project takes its labels with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from dockyard.artifacts.lookup import ArtifactKey, find_artifact
from dockyard.artifacts.models import ArtifactLabel, Label
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.events.services import Actor, record

NAME_MAX_LENGTH = 128
DESCRIPTION_MAX_LENGTH = 1024
# No control characters, no space at either end; Harbor's console shows any text.
NAME_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_NAME = re.compile(NAME_PATTERN)
_COLOR = re.compile(r"^(?:#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6})?$")

_COLUMNS = (
    Label.id,
    Label.name,
    Label.description,
    Label.color,
    Label.project_id,
    Label.created_at,
    Label.updated_at,
)
_BY_ID = select(*_COLUMNS).where(Label.id == bindparam("label_id"))


@dataclass(frozen=True, slots=True)
class LabelInfo:
    id: int
    name: str
    description: str
    color: str
    # None: a global label.
    project_id: int | None
    created_at: datetime
    updated_at: datetime

    @property
    def scope(self) -> str:
        """Harbor's scope letter: "g" global, "p" project."""
        return "g" if self.project_id is None else "p"


def _info(row: Row[Any]) -> LabelInfo:
    return LabelInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        color=row.color,
        project_id=row.project_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _checked(name: str | None, description: str | None, color: str | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if name is not None:
        if not 1 <= len(name) <= NAME_MAX_LENGTH or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"a label's name has 1 to {NAME_MAX_LENGTH} printable characters, "
                "without spaces at either end"
            )
        values["name"] = name
    if description is not None:
        if len(description) > DESCRIPTION_MAX_LENGTH:
            raise InvalidInput(
                f"a label's description has at most {DESCRIPTION_MAX_LENGTH} characters"
            )
        values["description"] = description
    if color is not None:
        if not _COLOR.fullmatch(color):
            raise InvalidInput("a label's color is #RGB or #RRGGBB, or empty")
        values["color"] = color
    return values


class LabelService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        name: str,
        *,
        project_id: int | None,
        description: str = "",
        color: str = "",
        actor: Actor,
    ) -> LabelInfo:
        """A new label of ``project_id``, or a global one; Conflict when the name is taken
        in that scope."""
        values = _checked(name, description, color)
        now = utcnow()
        async with self.db.write() as conn:
            await self._check_free(conn, name, project_id, None)
            try:
                label_id = await conn.scalar(
                    insert(Label).returning(Label.id),
                    {**values, "project_id": project_id, "created_at": now, "updated_at": now},
                )
            except IntegrityError as exc:  # a concurrent create of the same name
                raise Conflict(f"label {name!r} exists already") from exc
            await record(conn, actor, "create", "label", name, project_id=project_id)
            return await self._get(conn, int(label_id))

    async def get(self, label_id: int) -> LabelInfo:
        async with self.db.read() as conn:
            return await self._get(conn, label_id)

    async def search(
        self,
        *,
        project_id: int | None,
        name: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[LabelInfo], int]:
        """The global labels (``project_id`` None) or a project's, by name; ``name``
        matches a part of the name. With how many match."""
        scope = Label.project_id.is_(None) if project_id is None else Label.project_id == project_id
        conditions = [scope]
        if name:
            conditions.append(func.lower(Label.name).contains(name.lower(), autoescape=True))
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(*_COLUMNS)
                    .where(*conditions)
                    .order_by(Label.name, Label.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
            total = await conn.scalar(select(func.count()).select_from(Label).where(*conditions))
        return [_info(row) for row in rows], int(total or 0)

    async def update(
        self,
        label_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        color: str | None = None,
        actor: Actor,
    ) -> LabelInfo:
        values = _checked(name, description, color)
        async with self.db.write() as conn:
            label = await self._get(conn, label_id)
            if not values:
                return label
            if name is not None and name != label.name:
                await self._check_free(conn, name, label.project_id, label_id)
            try:
                await conn.execute(
                    update(Label).where(Label.id == label_id).values(**values, updated_at=utcnow())
                )
            except IntegrityError as exc:
                raise Conflict(f"label {name!r} exists already") from exc
            await record(
                conn,
                actor,
                "update",
                "label",
                values.get("name", label.name),
                project_id=label.project_id,
            )
            return await self._get(conn, label_id)

    async def delete(self, label_id: int, *, actor: Actor) -> None:
        """Delete a label; it leaves every artifact that carried it."""
        async with self.db.write() as conn:
            label = await self._get(conn, label_id)
            await conn.execute(delete(Label).where(Label.id == label_id))
            await record(conn, actor, "delete", "label", label.name, project_id=label.project_id)

    async def attach(self, name: str, reference: str, label_id: int, *, actor: Actor) -> None:
        """Put a label on the artifact ``reference`` names in repository ``name``: a global
        label, or one of the artifact's project. Conflict when it carries it already."""
        async with self.db.write() as conn:
            artifact = await find_artifact(conn, name, reference, hold=True)
            label = await self._get(conn, label_id)
            if label.project_id is not None and label.project_id != artifact.project_id:
                raise InvalidInput(
                    f"label {label.name!r} belongs to another project; an artifact takes "
                    "global labels and those of its own project"
                )
            attached = await conn.scalar(
                select(ArtifactLabel.label_id).where(
                    ArtifactLabel.manifest_id == artifact.id, ArtifactLabel.label_id == label_id
                )
            )
            if attached is not None:
                raise Conflict(f"the artifact carries label {label.name!r} already")
            await conn.execute(
                insert(ArtifactLabel),
                {"manifest_id": artifact.id, "label_id": label_id, "created_at": utcnow()},
            )
            await _record_attachment(conn, actor, "create", name, artifact, label)

    async def detach(self, name: str, reference: str, label_id: int, *, actor: Actor) -> None:
        """Take a label off an artifact; NotFound when the artifact does not carry it."""
        async with self.db.write() as conn:
            artifact = await find_artifact(conn, name, reference)
            label = await self._get(conn, label_id)
            result = await conn.execute(
                delete(ArtifactLabel).where(
                    ArtifactLabel.manifest_id == artifact.id, ArtifactLabel.label_id == label_id
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"the artifact does not carry label {label.name!r}")
            await _record_attachment(conn, actor, "delete", name, artifact, label)

    @staticmethod
    async def _get(conn: Conn, label_id: int) -> LabelInfo:
        row = (await conn.execute(_BY_ID, {"label_id": label_id})).first()
        if row is None:
            raise NotFound(f"no label with id {label_id}")
        return _info(row)

    @staticmethod
    async def _check_free(
        conn: Conn, name: str, project_id: int | None, except_id: int | None
    ) -> None:
        scope = Label.project_id.is_(None) if project_id is None else Label.project_id == project_id
        taken = await conn.scalar(select(Label.id).where(scope, Label.name == name))
        if taken is not None and taken != except_id:
            where = "global labels" if project_id is None else "this project's labels"
            raise Conflict(f"label {name!r} exists already among the {where}")


async def _record_attachment(
    conn: Conn, actor: Actor, operation: str, name: str, artifact: ArtifactKey, label: LabelInfo
) -> None:
    await record(
        conn,
        actor,
        operation,
        "artifact_label",
        f"{name}@{artifact.digest}",
        project_id=artifact.project_id,
        detail={"label": label.name, "label_id": label.id},
    )


async def labels_of(conn: Conn, manifest_ids: list[int]) -> dict[int, list[LabelInfo]]:
    """The labels of each artifact of ``manifest_ids``, by name."""
    labels: dict[int, list[LabelInfo]] = {}
    if not manifest_ids:
        return labels
    rows = await conn.execute(
        select(ArtifactLabel.manifest_id, *_COLUMNS)
        .join(Label, Label.id == ArtifactLabel.label_id)
        .where(ArtifactLabel.manifest_id.in_(manifest_ids))
        .order_by(Label.name, Label.id)
    )
    for row in rows:
        labels.setdefault(row.manifest_id, []).append(_info(row))
    return labels
