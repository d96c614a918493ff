"""Meta signs every webhook body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``
of the raw body with the app secret. Checked before anything is parsed."""

import hashlib
import hmac


def signature_of(body: bytes, app_secret: str) -> str:
    """The header value Meta sends for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_by(body: bytes, header: str | None, app_secret: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant-time comparison)."""
    if not header:
        return False
    return hmac.compare_digest(header.strip().encode(), signature_of(body, app_secret).encode())


def same_secret(given: str | None, expected: str) -> bool:
    """The verify token of Meta's handshake, compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
