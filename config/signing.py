"""The one HMAC signing scheme, for every signed body in both directions.

`X-Signature` on the calls to the execution plane and on its callbacks, `X-Alert-Signature`
on alert webhooks: `sha256=<lowercase hex of HMAC-SHA256(key=secret, message=raw body)>`.
In `config` so that every app may use it (the plane client, the callback view, alerts).
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The signature of `body`: `sha256=<hex HMAC-SHA256 of the raw bytes, keyed with secret>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, given: str) -> bool:
    """Whether `given` is `body`'s signature (constant time). Without a secret or a signature,
    nothing can be verified, so nothing matches."""
    if not secret or not given:
        return False
    return hmac.compare_digest(given.strip().lower().encode(), sign(secret, body).encode())
