"""Forward keyset pages for the pages' lists: newest first on (created_at desc, id).

The cursor is the position of a page's last row, so page 200 costs what page 1 costs (an
OFFSET grows with depth). Going back is the browser's back button: every page's cursor is
in its URL.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet


@dataclass
class Page:
    rows: list
    next_cursor: str  # "" on the last page


def encode_cursor(created_at: datetime, pk) -> str:
    raw = json.dumps([created_at.isoformat(), str(pk)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[datetime, uuid.UUID | int] | None:
    """The position in `value`, or None for a cursor that is not one of ours (first page).

    The id is a UUID (schedules, runs) or an integer (audit events)."""
    try:
        created_at, pk = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        when = datetime.fromisoformat(created_at)
        key = int(pk) if isinstance(pk, str) and pk.isdigit() else uuid.UUID(pk)
        return (when, key) if when.tzinfo is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def page_of(queryset: QuerySet, cursor: str, size: int) -> Page:
    """Rows of `queryset` after `cursor`, newest first (ties on created_at by id descending)."""
    queryset = queryset.order_by("-created_at", "-id")
    position = decode_cursor(cursor) if cursor else None
    if position is not None:
        created_at, pk = position
        queryset = queryset.filter(created_at__lte=created_at).filter(
            Q(created_at__lt=created_at) | Q(id__lt=pk)
        )
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows=rows, next_cursor=encode_cursor(rows[-1].created_at, rows[-1].pk) if more else "")
