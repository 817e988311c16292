"""An httpx transport into an ASGI app of this process that streams response bodies.

The built-in scanner pulls images from the registry in the same process through the
same Distribution API an outside adapter uses. httpx's own ASGITransport gathers a
whole response in memory first; a layer can be gigabytes, so this one hands each
chunk over as the app sends it, with a small queue between them for back-pressure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

# Chunks in flight between the app and the reader.
_QUEUED = 8


class LoopbackTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.app = app
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([part async for part in request.stream])  # type: ignore[union-attr]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": self.client,
            "root_path": "",
        }
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUED)
        sent_request = False
        finished = asyncio.Event()

        async def receive() -> Message:
            nonlocal sent_request
            if sent_request:
                await finished.wait()
                return {"type": "http.disconnect"}
            sent_request = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set_result(message)
            elif message["type"] == "http.response.body":
                if message.get("body") and request.method != "HEAD":
                    await chunks.put(message["body"])
                if not message.get("more_body", False):
                    await chunks.put(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                if not started.done():
                    started.set_exception(exc)
            finally:
                if not started.done():
                    started.set_exception(RuntimeError("the app sent no response"))
                # The end, also after a failure mid-body (the reader's digest check
                # tells a cut-short body from a whole one).
                await chunks.put(None)

        task = asyncio.create_task(run())
        try:
            start = await started
        except BaseException:
            finished.set()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return httpx.Response(
            start["status"],
            headers=start.get("headers", []),
            stream=_Stream(chunks, task, finished),
            request=request,
        )


class _Stream(httpx.AsyncByteStream):
    def __init__(
        self, chunks: asyncio.Queue[bytes | None], task: asyncio.Task[Any], finished: asyncio.Event
    ) -> None:
        self._chunks = chunks
        self._task = task
        self._finished = finished

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._finished.set()
        if not self._task.done():
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Loopback:
    """The app of this process, once it is built, as clients the scanner pulls with."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    def client(self) -> httpx.AsyncClient:
        if self.app is None:
            raise RuntimeError("the registry app is not built yet")
        return httpx.AsyncClient(transport=LoopbackTransport(self.app), timeout=None)

    @staticmethod
    def transport(app: ASGIApp) -> httpx.AsyncBaseTransport:
        return LoopbackTransport(app)
