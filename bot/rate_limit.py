"""Per-source rate limiting for the webhook endpoints (a token bucket per remote address)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class SourceRateLimit:
    """At most `per_minute` requests per source address to the given paths; the rest get 429."""

    def __init__(self, per_minute: int, paths: Iterable[str], max_sources: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, per_minute // 6))  # ten seconds' worth at once
        self.paths = frozenset(paths)
        self.max_sources = max_sources
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, source: str, now: float | None = None) -> bool:
        """Take one token from the source's bucket; False when it is empty."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[source] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_sources:
            self._buckets.popitem(last=False)  # forget the longest-idle source
        return allowed

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in self.paths and not self.allow(request.remote or "unknown"):
            retry = max(1, round(1 / self.rate))
            return web.json_response(
                {"error": "rate_limited", "message": "Too many requests; slow down."},
                status=429,
                headers={"Retry-After": str(retry)},
            )
        return await handler(request)
