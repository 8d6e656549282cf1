"""Masking a credential-bearing address for people who may not hold it.

A Slack, Teams or Discord webhook URL is itself the credential: its path is the secret. Who
may not manage an org's alert channels sees the scheme and host only, and the audit trail
stores only that form.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MASK = "***"


def mask_target(target: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/xyz` -> `https://hooks.slack.com/***`;
    `ops@example.com` -> `***@example.com`; anything else -> `***`. Masking twice is harmless."""
    target = (target or "").strip()
    try:
        parts = urlsplit(target)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return MASK
    if parts.scheme in ("http", "https") and host:
        netloc = f"[{host}]" if ":" in host else host
        return f"{parts.scheme}://{netloc}{f':{port}' if port else ''}/{MASK}"
    if "@" in target and "/" not in target:
        return f"{MASK}@{target.rpartition('@')[2]}"
    return MASK
