"""API tokens: high-entropy random strings, shown once, kept as their SHA-256 with a prefix.

A token is `lrp_<prefix>_<secret>`: the prefix (8 hex characters) is what lists and the
audit show; the secret (32 random bytes) is never stored. SHA-256 without a salt is enough for
a 256-bit random secret: nothing to guess, so nothing for a slow hash to slow down."""

import hashlib
import secrets

PREFIX = "lrp_"


def token_new() -> tuple[str, str, str]:
    """A fresh token, its visible prefix and its SHA-256 (what is stored)."""
    prefix = secrets.token_hex(4)
    token = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return token, prefix, token_hash(token)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
