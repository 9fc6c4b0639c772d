"""Encryption of personal data at rest, and keyed hashes for uniqueness.

A plain SHA-256 of an ID number is reversible by enumeration (the space is
small), so duplicates are caught with an HMAC under a secret key instead.
"""
from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class PiiDecryptionError(RuntimeError):
    pass


def _cipher() -> MultiFernet:
    cached = current_app.extensions.get("pii_cipher")
    if cached is None:
        keys = [key.strip() for key in current_app.config["PII_ENCRYPTION_KEYS"].split(",") if key.strip()]
        # The first key encrypts; the others still decrypt, which allows rotation.
        cached = MultiFernet([Fernet(key) for key in keys])
        current_app.extensions["pii_cipher"] = cached
    return cached


def encrypt_pii(plain: str) -> str:
    return _cipher().encrypt(plain.encode("utf-8")).decode("ascii")


def decrypt_pii(token: str) -> str:
    try:
        return _cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise PiiDecryptionError("stored personal data cannot be decrypted with the configured keys") from exc


def keyed_hash(value: str) -> str:
    key = current_app.config["PII_HASH_KEY"].encode("utf-8")
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
