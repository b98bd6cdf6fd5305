"""The HTTP client python-telegram-bot uses for Bot API calls: aiohttp instead of PTB's httpx.

PTB lets an application bring its own transport (a `BaseRequest`). Measured with 100 users filing
reports, the httpx stack (httpx, httpcore, anyio, h11) took more than half of the event loop's CPU:
it checks every pooled connection for readability with a getpeername system call per request and
enters anyio cancel scopes at every step. aiohttp, already here for the bot's own web server,
does the same calls with a C HTTP parser and none of that. Errors are mapped as PTB's own
HTTPXRequest maps them: timeouts to TimedOut, every other client error to NetworkError.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


def _chosen(value: ODVInput[float], default: float | None) -> float | None:
    """A per-call timeout if the caller gave one, else this client's default."""
    return default if isinstance(value, DefaultValue) else value


class AiohttpRequest(BaseRequest):
    """A PTB transport on one aiohttp session with at most `connection_pool_size` connections."""

    def __init__(
        self,
        connection_pool_size: int = 16,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 10.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        data: Any = None
        if request_data is not None:
            data = self._form(request_data.json_parameters, files) if files else request_data.json_parameters
        read = _chosen(read_timeout, self._read_timeout)
        write = _chosen(write_timeout, self._media_write_timeout if files else self._write_timeout)
        connect = _chosen(connect_timeout, self._connect_timeout)
        pool = _chosen(pool_timeout, self._pool_timeout)
        # aiohttp has no separate write timeout: the write's allowance bounds the whole call on
        # top of the read's (None when either is unbounded, as for long polling with no timeout).
        total = None if read is None or write is None else read + write
        waiting = None if connect is None or pool is None else connect + pool
        timeout = aiohttp.ClientTimeout(total=total, connect=waiting, sock_connect=connect, sock_read=read)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err

    async def post_json(self, url: str, payload: dict[str, Any], read_timeout: float | None) -> tuple[int, bytes]:
        """A POST with a JSON body whose raw answer the caller reads itself (getUpdates for the inbox)."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        connect = self._connect_timeout
        waiting = None if connect is None or self._pool_timeout is None else connect + self._pool_timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=read_timeout)
        try:
            async with self._session.post(url, json=payload, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err

    @staticmethod
    def _form(fields: dict[str, str], files: dict[str, Any]) -> aiohttp.FormData:
        """A multipart body: the JSON-encoded parameters, then each file with its name and type."""
        form = aiohttp.FormData()
        for name, value in fields.items():
            form.add_field(name, value)
        for name, (filename, content, mimetype) in files.items():
            form.add_field(name, content, filename=filename, content_type=mimetype)
        return form
