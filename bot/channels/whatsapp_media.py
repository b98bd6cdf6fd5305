"""Downloads the media of an incoming WhatsApp message from Twilio, never holding more than the limit.

Twilio's MediaUrl answers with a redirect to its CDN. The account credentials (HTTP basic auth) go
only to the Twilio API's own origin, never to the host a redirect points at; the body is streamed
and abandoned as soon as it passes the size limit, so a 30 MB upload costs at most the limit.
"""

from __future__ import annotations

import logging
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.engine import AttachmentTooLarge, AttachmentUnavailable

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port: credentials are only sent back to the same origin."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


async def download_media(
    session: aiohttp.ClientSession,
    url: str,
    *,
    authorization: str,
    trusted_origins: set[tuple[str, str, int | None]],
    max_bytes: int,
) -> bytes:
    """The bytes of an image at `url`; AttachmentTooLarge past max_bytes, AttachmentUnavailable otherwise."""
    for _hop in range(MAX_REDIRECTS + 1):
        headers = {"Authorization": authorization} if origin(url) in trusted_origins else {}
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    log.info("media download answered HTTP %s", response.status)
                    raise AttachmentUnavailable(f"HTTP {response.status}")
                if not response.content_type.startswith("image/"):
                    log.info("media download is %s, not an image", response.content_type)
                    raise AttachmentUnavailable(f"content type {response.content_type}")
                if response.content_length is not None and response.content_length > max_bytes:
                    raise AttachmentTooLarge(f"{response.content_length} bytes")
                return await _read_capped(response, max_bytes)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AttachmentUnavailable(type(exc).__name__) from exc
    raise AttachmentUnavailable("too many redirects")


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    data = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        data += chunk
        if len(data) > max_bytes:
            raise AttachmentTooLarge(f"over {max_bytes} bytes")
    return bytes(data)
