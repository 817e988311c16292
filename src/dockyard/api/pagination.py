"""Harbor's paging: ``page`` and ``page_size`` in, ``X-Total-Count`` and ``Link`` out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request, Response

MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Page:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def page_of(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="The page, from 1.")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Entries per page.")] = 10,
) -> Page:
    return Page(page, page_size)


def paginate(request: Request, response: Response, page: Page, total: int) -> None:
    """Set the total and the links to the neighbouring pages."""
    response.headers["X-Total-Count"] = str(total)
    links = []
    if page.page > 1:
        links.append(_link(request, page.page - 1, page.size, "prev"))
    if page.offset + page.size < total:
        links.append(_link(request, page.page + 1, page.size, "next"))
    if links:
        response.headers["Link"] = ", ".join(links)


def _link(request: Request, number: int, size: int, rel: str) -> str:
    url = request.url.include_query_params(page=number, page_size=size)
    return f'<{url.path}?{url.query}>; rel="{rel}"'
