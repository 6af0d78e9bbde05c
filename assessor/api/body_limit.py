"""A cap on request bodies for the whole app, enforced before anything is read.

The upload routes check their own limits (20 MiB for a baseline file, 5 MiB for a
registry), but only after the body is in memory, and a multipart parser spools file parts
to disk as they come. This middleware refuses a body whose Content-Length is over the cap
at once, and stops a body sent without one (chunked) as soon as it passes the cap, so a
client cannot make the server hold or store more than that.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class _TooLarge(Exception):
    pass


class BodyLimit:
    def __init__(self, app: App, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        mib = self.max_bytes / 2**20
        if str(scope.get("path", "")).startswith("/api/"):
            body = json.dumps(
                {"error": {"message": f"body: larger than {mib:.0f} MiB", "parameter": "body"}}
            ).encode()
            ctype = b"application/json"
        else:
            text = (
                f"요청이 너무 큽니다 (최대 {mib:.0f} MiB). / "
                f"The request is too large (at most {mib:.0f} MiB)."
            )
            body = (
                '<!doctype html><html lang="ko"><meta charset="utf-8"><title>413</title>'
                f"<p>{text}</p></html>"
            ).encode()
            ctype = b"text/html; charset=utf-8"
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
