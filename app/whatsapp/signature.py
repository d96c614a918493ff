"""Meta signs every webhook body: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256>``
of the raw body with the app secret. Checked before anything is parsed; during a
rotation of the secret both the new and the previous one are accepted."""

import hashlib
import hmac
from collections.abc import Iterable


def signature_of(body: bytes, app_secret: str) -> str:
    """The header value Meta sends for ``body``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_by(body: bytes, header: str | None, app_secrets: Iterable[str]) -> bool:
    """Whether ``header`` is the signature of ``body`` with one of ``app_secrets``
    (each compared in constant time, all of them always)."""
    if not header:
        return False
    given = header.strip().encode()
    matches = [hmac.compare_digest(given, signature_of(body, s).encode()) for s in app_secrets]
    return any(matches)


def same_secret(given: str | None, expected: str) -> bool:
    """The verify token of Meta's handshake, compared in constant time."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
