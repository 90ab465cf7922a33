"""Request limits: body size (413 before parsing) and request rate (429, token bucket)."""

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi import HTTPException, status
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class BodyLimit:
    """At most `max_bytes` of body; `setting` names the key that sets it."""

    max_bytes: int
    setting: str

    @classmethod
    def megabytes(cls, size: float, setting: str) -> "BodyLimit":
        return cls(int(size * MEGABYTE), setting)

    def message(self) -> str:
        return f"request body larger than {self.max_bytes / MEGABYTE:g} MB ({self.setting})"


class BodyLimitMiddleware:
    """Refuse a request body over its path's limit with 413, before anything parses it.

    A declared Content-Length over the limit is refused before a byte of the body is
    read; a body without one (chunked) is counted as it streams in and refused as soon
    as it passes the limit, so a request never holds more than the limit in memory.
    """

    def __init__(self, app: ASGIApp, default: BodyLimit, paths: Mapping[str, BodyLimit]) -> None:
        self.app = app
        self.default = default
        self.paths = dict(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.paths.get(scope["path"], self.default)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit.max_bytes:
            response = JSONResponse(
                {"detail": limit.message()}, status_code=status.HTTP_413_CONTENT_TOO_LARGE
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    # FastAPI passes an HTTPException raised while reading the body on to
                    # its handler, which answers it; the rest of the body is never read.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, limit.message())
            return message

        await self.app(scope, counting_receive, send)


class TokenBuckets:
    """One token bucket per caller: `rate` requests a second, bursts of up to `burst`.

    Memory is bounded: past `max_callers`, the caller seen longest ago is forgotten
    (and starts again with a full bucket).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        max_callers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, updated at)

    def take(self, caller: str) -> float:
        """Take a token for `caller`: 0 if granted, else the seconds until one is free."""
        now = self.clock()
        tokens, updated = self.buckets.pop(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self.buckets[caller] = (tokens, now)  # most recently seen last
        if len(self.buckets) > self.max_callers:
            del self.buckets[next(iter(self.buckets))]
        return wait


class RateLimitMiddleware:
    """Answer 429 with Retry-After to a caller over its request rate."""

    def __init__(
        self,
        app: ASGIApp,
        buckets: TokenBuckets,
        identify: Callable[[Scope], str],
        exempt: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.identify = identify
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.exempt:
            wait = self.buckets.take(self.identify(scope))
            if wait > 0:
                response = JSONResponse(
                    {"detail": "rate limit reached (serving.rate_limit_per_second)"},
                    status_code=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(math.ceil(wait))},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
