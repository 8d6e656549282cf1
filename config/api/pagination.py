"""Keyset (cursor) pagination on (created_at desc, id asc).

DRF's CursorPagination positions on one field and counts ties with an offset, which grows
without bound when many rows share a `created_at` (bulk creation does that). Here the cursor
holds both values of the last row, so every page is an index range scan however deep it is.

The order is `-created_at, id` (not `-id`) because the schedules index is
`(org, -created_at, id)`: the same directions let PostgreSQL read a page straight off the
index, with `created_at <= c` as the index condition and the tie-break as a cheap filter.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

from django.db.models import Q, QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from config.api.parsers import parse_json

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    id: object
    forward: bool  # True: rows after this position; False: rows before it (a "previous" link)

    def encode(self) -> str:
        raw = json.dumps({"t": self.created_at.isoformat(), "i": str(self.id), "d": "n" if self.forward else "p"})
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _invalid_cursor():
    return ValidationError({"cursor": ["invalid cursor; use the `next` or `previous` link of a page"]})


def decode_cursor(value: str, id_type: type) -> Cursor:
    """A cursor from a `next`/`previous` link; anything else (forged, truncated) is a 400.

    Cursors come back from clients, so every part is checked before it reaches a query: the
    JSON like a request body (bounded depth), strings where strings belong, and the time
    converted to UTC here (a time such as 9999-12-31T23:59:59-14:00 overflows on conversion,
    which the database adapter would otherwise do inside the query: a 500).
    """
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        data = parse_json(raw)
        if not isinstance(data, dict) or not all(isinstance(data.get(key), str) for key in ("t", "i", "d")):
            raise ValueError
        created_at = datetime.fromisoformat(data["t"])
        if created_at.tzinfo is None or data["d"] not in ("n", "p"):
            raise ValueError
        created_at = created_at.astimezone(timezone.utc)
        row_id = id_type(data["i"])
    except (binascii.Error, ValueError, OverflowError):
        raise _invalid_cursor() from None
    if id_type is int and not -(2**63) <= row_id < 2**63:
        raise _invalid_cursor()
    return Cursor(created_at=created_at, id=row_id, forward=data["d"] == "n")


class KeysetPagination(BasePagination):
    """Pages of `queryset` newest first; the model needs `created_at` and an `id` primary key."""

    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    id_descending = False

    def __init__(self):
        self.next_cursor: Cursor | None = None
        self.previous_cursor: Cursor | None = None
        self.request = None

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw in (None, ""):
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= self.max_page_size:
            raise ValidationError({"page_size": [f"page_size must be a whole number from 1 to {self.max_page_size}"]})
        return size

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        self.request = request
        size = self.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        id_type = uuid.UUID if queryset.model._meta.pk.get_internal_type() == "UUIDField" else int
        cursor = decode_cursor(raw, id_type) if raw else None

        # Ties on created_at are broken by id, ascending unless `id_descending`.
        after, before, id_order = ("lt", "gt", "-id") if self.id_descending else ("gt", "lt", "id")
        if cursor is None or cursor.forward:
            qs = queryset.order_by("-created_at", id_order)
            if cursor is not None:
                # `created_at <= c` is the index range; the OR only breaks ties.
                qs = qs.filter(created_at__lte=cursor.created_at).filter(
                    Q(created_at__lt=cursor.created_at) | Q(**{f"id__{after}": cursor.id})
                )
        else:
            reverse_id = id_order[1:] if id_order.startswith("-") else f"-{id_order}"
            qs = queryset.order_by("created_at", reverse_id).filter(created_at__gte=cursor.created_at).filter(
                Q(created_at__gt=cursor.created_at) | Q(**{f"id__{before}": cursor.id})
            )
        rows = list(qs[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if cursor is not None and not cursor.forward:
            rows.reverse()

        self.next_cursor = self.previous_cursor = None
        if rows:
            first, last = rows[0], rows[-1]
            backward = cursor is not None and not cursor.forward
            # A backward page was reached from a later one, so it always has a next page.
            has_next = True if backward else more
            has_previous = more if backward else cursor is not None
            if has_next:
                self.next_cursor = Cursor(last.created_at, last.pk, forward=True)
            if has_previous:
                self.previous_cursor = Cursor(first.created_at, first.pk, forward=False)
        return rows

    def _link(self, cursor: Cursor | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor.encode())

    def get_paginated_response(self, data):
        return Response(
            {"next": self._link(self.next_cursor), "previous": self._link(self.previous_cursor), "results": data}
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next (older) page, or null on the last page.",
                    "example": "https://schedules.example.com/api/v1/schedules/?cursor=eyJ0IjogIjIwMjYtMTEtMzBUMDg6MDA6MDArMDA6MDAiLCAiaSI6ICIzZjJhOWMxZS04YjdkLTRlNmYtYTViNC1jM2QyZTFmMGE5YjgiLCAiZCI6ICJuIn0",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The previous (newer) page, or null on the first page.",
                    "example": None,
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a page's `next` or `previous` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_page_size} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]


class NewestFirstPagination(KeysetPagination):
    """(created_at desc, id desc): for rows with increasing integer ids (audit events), where
    the later of two rows written in the same instant should come first."""

    id_descending = True
