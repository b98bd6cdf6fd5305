"""Signed, expiring URLs for stored photos, so Twilio (or any channel that sends by URL) can fetch them.

A link is `{public_base_url}/media/{token}`; the token is the photo's path inside the photo store,
timestamped and signed with itsdangerous. Nobody can forge a token for another photo, and a token
stops working after `whatsapp.media_url_ttl_s` (410 Gone). The key comes from `secret_key`, or from a
random key generated once in `data_dir`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path

from aiohttp import web
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from bot.config import Settings
from storage.photo_store import PhotoStore

log = logging.getLogger(__name__)

ROUTE = "/media/{token}"
KEY_FILE = "media_links.key"
SALT = "vmitra.media-link.v1"


class MediaLinkInvalid(Exception):
    """The token was not issued by this bot (or was altered)."""


class MediaLinkExpired(MediaLinkInvalid):
    """The token was genuine but its time is up."""


def _derive(secret: bytes) -> bytes:
    return hmac.new(secret, b"vmitra media links", hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _file_key(data_dir: Path) -> bytes:
    """A random key kept in data_dir (created once, readable only by the bot's user)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
        log.info("generated a signing key for photo links in %s", path)
    return bytes.fromhex(path.read_text().strip())


def signing_key(settings: Settings) -> bytes:
    """The key photo links are signed with: derived from secret_key, else generated in data_dir."""
    if settings.secret_key is not None:
        return _derive(settings.secret_key.get_secret_value().encode())
    return _derive(_file_key(settings.data_dir.resolve()))


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_key(settings), salt=SALT)


def media_token(settings: Settings, relative_path: str) -> str:
    """A signed, timestamped token naming one file of the photo store."""
    return _serializer(settings).dumps(relative_path)


def media_url(settings: Settings, relative_path: str) -> str:
    """The public URL of a stored photo: public_base_url + /media/<token>."""
    base = settings.http.public_base_url
    if not base:
        raise ValueError("http.public_base_url is not set, so photos cannot be linked")
    return f"{base.rstrip('/')}/media/{media_token(settings, relative_path)}"


def read_token(settings: Settings, token: str) -> str:
    """The photo path a token names; raises MediaLinkExpired or MediaLinkInvalid."""
    try:
        value = _serializer(settings).loads(token, max_age=settings.whatsapp.media_url_ttl_s)
    except SignatureExpired as exc:
        raise MediaLinkExpired(token) from exc
    except BadSignature as exc:
        raise MediaLinkInvalid(token) from exc
    if not isinstance(value, str):
        raise MediaLinkInvalid(token)
    return value


def _inside(store: PhotoStore, relative: str) -> Path | None:
    root = store.root.resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        return None
    return path


def add_media_route(app: web.Application, settings: Settings, store: PhotoStore) -> None:
    """Serves GET /media/{token}: the photo (private, not cached by proxies), 404 if bad, 410 if expired."""
    signing_key(settings)  # create the key file now rather than inside a request

    async def serve(request: web.Request) -> web.StreamResponse:
        try:
            relative = read_token(settings, request.match_info["token"])
        except MediaLinkExpired:
            return web.Response(status=410, text="link expired")
        except MediaLinkInvalid:
            return web.Response(status=404, text="not found")
        path = _inside(store, relative)
        if path is None:
            return web.Response(status=404, text="not found")
        ttl = settings.whatsapp.media_url_ttl_s
        headers = {
            "Cache-Control": f"private, max-age={ttl}",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Type": "image/jpeg",
        }
        return web.FileResponse(path, headers=headers)

    app.router.add_get(ROUTE, serve)
