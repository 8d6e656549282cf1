"""Request bodies the API accepts: JSON, bounded in size and in nesting depth.

Python's json module recurses once per nesting level, so a 2 KB body of 1,000 nested
brackets raised RecursionError (a 500) before any view ran; and DRF reads the body from the
request stream, bypassing Django's DATA_UPLOAD_MAX_MEMORY_SIZE. Every JSON body the API
reads (DRF's parser, the plane's signed callback, pagination cursors) goes through
`parse_json`, so each of them answers a 400 or 413 in the one error shape instead.
"""

from __future__ import annotations

import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

# Deeper than any body the API takes (params allow 20 levels) and far below the recursion
# limit, so the check, not the interpreter, decides.
MAX_DEPTH = 64


class JSONInputError(ValueError):
    """Not JSON, or JSON the API will not read; the message says which, for a person."""


class BodyTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "too_large"

    def __init__(self, limit: int | None = None):
        limit = body_limit() if limit is None else limit
        super().__init__(f"the request body is larger than {_size(limit)}; send less data")


def body_limit() -> int | None:
    """Largest body read, in bytes: Django's own upload limit (None: no limit)."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _size(limit: int | None) -> str:
    if limit is None:
        return "the limit"
    if limit >= 1024 * 1024:
        return f"{limit / (1024 * 1024):g} MB ({limit} bytes)"
    return f"{limit} bytes"


def read_bounded(stream) -> bytes:
    """The whole body, or BodyTooLarge without reading more than the limit."""
    limit = body_limit()
    raw = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(raw) > limit:
        raise BodyTooLarge(limit)
    return raw


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """True when lists and objects nest more than `limit` levels (iterative: no recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def parse_json(raw: bytes | str, encoding: str = "utf-8"):
    """Decode a JSON document; JSONInputError when it is not JSON or nests too deeply."""
    try:
        text = raw.decode(encoding) if isinstance(raw, bytes) else raw
    except (UnicodeDecodeError, LookupError):
        raise JSONInputError(f"the body is not JSON: it is not {encoding} text") from None
    try:
        value = json.loads(text, parse_constant=strict_constant)
    except RecursionError:
        deep = True
    except ValueError as exc:
        raise JSONInputError(f"the body is not JSON: {exc}") from None
    else:
        deep = too_deep(value)
    if deep:
        raise JSONInputError(
            f"the body is nested more than {MAX_DEPTH} levels deep (objects and lists inside each other)"
        )
    return value


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the size and depth bounds above."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        raw = read_bounded(stream) if stream is not None else b""
        try:
            return parse_json(raw, parser_context.get("encoding", settings.DEFAULT_CHARSET))
        except JSONInputError as exc:
            raise exceptions.ParseError(str(exc)) from None
