"""Bank details at rest: Fernet encryption with a key from VMITRA_SECRET_KEY, and the masked form users see.

The key is derived with HKDF-SHA256 from `secret_key`, so any long random string will do. In local
demo mode (no Telegram or Twilio credentials) a random key is generated once into data_dir with a
warning; a real deployment without VMITRA_SECRET_KEY refuses to store or read bank details.
"""

from __future__ import annotations

import base64
import logging
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.config import Settings

log = logging.getLogger(__name__)

KEY_FILE = "bank_details.key"
_KDF_INFO = b"vmitra bank details v1"


class BankKeyMissing(Exception):
    """No VMITRA_SECRET_KEY outside demo mode: bank details can be neither stored nor read."""


class BankDataUnreadable(Exception):
    """A ciphertext does not open with the current key (the key changed or the data is damaged)."""


def mask(last4: str | None) -> str:
    """The only form of an account number anyone is shown: XXXXXX1234."""
    return f"XXXXXX{last4 or '????'}"


def is_demo(settings: Settings) -> bool:
    """Local demo mode: neither Telegram nor Twilio credentials are configured."""
    return settings.telegram.token is None and settings.twilio.auth_token is None


class BankCipher:
    """Encrypts and decrypts one field of bank details."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, text: str) -> bytes:
        """Fernet ciphertext of the text."""
        return self._fernet.encrypt(text.encode())

    def decrypt(self, token: bytes | str) -> str:
        """The text back; raises BankDataUnreadable when the key does not open it."""
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise BankDataUnreadable("bank details cannot be decrypted with the current key") from None

    def seal(self, text: str) -> str:
        """Ciphertext as text, for values kept in the dialog state between steps."""
        return self.encrypt(text).decode("ascii")


def bank_cipher(settings: Settings) -> BankCipher:
    """The cipher for bank details; raises BankKeyMissing outside demo mode without a configured key."""
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    return _cipher(secret, str(Path(settings.data_dir).resolve()), is_demo(settings))


@lru_cache(maxsize=16)
def _cipher(secret: str | None, data_dir: str, demo: bool) -> BankCipher:
    if secret:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO)
        return BankCipher(base64.urlsafe_b64encode(hkdf.derive(secret.encode())))
    if not demo:
        raise BankKeyMissing("set VMITRA_SECRET_KEY to accept and pay to bank accounts")
    return BankCipher(_demo_key(Path(data_dir)))


def _demo_key(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # Written aside, then linked into place: a second process never reads a half-written key.
        scratch = data_dir / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass  # another process was first; use theirs
        finally:
            scratch.unlink()
    log.warning(
        "No secret key is configured (VMITRA_SECRET_KEY): bank details are encrypted with a demo key kept in %s",
        path,
    )
    return path.read_bytes().strip()
