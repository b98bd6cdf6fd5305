"""Web chat sessions: a signed cookie holding a random user id, a CSRF token bound to it, origin checks.

The cookie is signed with itsdangerous (a key derived from `secret_key`, or a random key kept in
data_dir when none is configured). The CSRF token is an HMAC of the user id, so it needs no
server-side storage and survives restarts; JSON endpoints require it in the X-CSRF-Token header
and refuse requests that a browser marks as cross-site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

log = logging.getLogger(__name__)

COOKIE_NAME = "vmitra_chat"
CSRF_HEADER = "X-CSRF-Token"
KEY_FILE = "webchat_session.key"
_SESSION_SALT = "vmitra.webchat.session"
_KEY_CONTEXT = b"vmitra webchat session key v1"


def session_key(secret_key: str | None, data_dir: Path) -> bytes:
    """The signing key: derived from the configured secret, else a random key generated once into data_dir."""
    if secret_key:
        return hmac.new(secret_key.encode(), _KEY_CONTEXT, hashlib.sha256).digest()
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first; read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
    log.warning(
        "No secret key is configured (VMITRA_SECRET_KEY): web chat sessions are signed with a random key kept in %s",
        path,
    )
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Session:
    """One browser's identity in the web chat."""

    user_id: str
    csrf: str
    is_new: bool = False


class SessionManager:
    """Issues and checks the session cookie and the CSRF token bound to it."""

    def __init__(self, key: bytes, *, lifetime_s: int, allowed_origins: tuple[str, ...] = ()) -> None:
        self._key = key
        self._serializer = URLSafeTimedSerializer(key, salt=_SESSION_SALT)
        self.lifetime_s = lifetime_s
        self.allowed_origins = allowed_origins

    def sign(self, purpose: str, value: str) -> str:
        """An HMAC of `value` for one purpose, URL-safe; nothing needs storing to check it later."""
        mac = hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def verify(self, purpose: str, value: str, signature: str) -> bool:
        return hmac.compare_digest(signature.encode(), self.sign(purpose, value).encode())

    def csrf_for(self, user_id: str) -> str:
        """The CSRF token of a user id."""
        return self.sign("csrf", user_id)

    def read(self, request: web.Request) -> Session | None:
        """The session named by a valid, unexpired cookie, or None (missing, forged or expired)."""
        raw = request.cookies.get(COOKIE_NAME)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.lifetime_s)
        except BadSignature:
            return None
        user_id = data.get("u") if isinstance(data, dict) else None
        if not isinstance(user_id, str) or not 8 <= len(user_id) <= 40:
            return None
        return Session(user_id=user_id, csrf=self.csrf_for(user_id))

    def read_or_new(self, request: web.Request) -> Session:
        """The current session, or a fresh one with a new random user id."""
        session = self.read(request)
        if session is not None:
            return session
        user_id = secrets.token_urlsafe(16)
        return Session(user_id=user_id, csrf=self.csrf_for(user_id), is_new=True)

    def set_cookie(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        """(Re)issue the cookie: HttpOnly, SameSite=Strict, Secure on HTTPS; the lifetime restarts."""
        response.set_cookie(
            COOKIE_NAME,
            self._serializer.dumps({"u": session.user_id}),
            max_age=self.lifetime_s,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure or any(o.startswith("https://") for o in self.allowed_origins),
        )

    def csrf_ok(self, request: web.Request, session: Session) -> bool:
        given = request.headers.get(CSRF_HEADER, "")
        return bool(given) and hmac.compare_digest(given.encode(), session.csrf.encode())

    def cross_origin(self, request: web.Request) -> bool:
        """True when the browser says the request comes from another site (Sec-Fetch-Site, Origin)."""
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            return True
        origin = request.headers.get("Origin")
        if origin is None:
            return False
        own = f"{request.scheme}://{request.host}"
        return origin != own and origin not in self.allowed_origins
