"""What "success" means for a schedule: its `success_checks`, as stored and as validated.

An agent's session can end well and still produce nothing ("a 0-byte report returned as
success"). A schedule lists checks that a succeeded session's result must pass; the run is
judged by `runs.outcomes` when its result is recorded. The checks, each a JSON object:

- `{"kind": "output_present"}`: an output of the schedule's output type came back (for
  `text`, the agent's text answer counts too; dropped for output type `none`);
- `{"kind": "min_size", "bytes": 1024}`: each output of that type is at least this big;
- `{"kind": "contains", "text": "Total"}` / `{"kind": "not_contains", "text": "ERROR"}`:
  the agent's text answer contains (or does not contain) the string;
- `{"kind": "regex", "pattern": "^# Sales"}`: the text answer matches the regular expression,
  searched with RE2 (google-re2), whose time is linear in the text: no pattern can make it hang;
- `{"kind": "json_schema", "schema": {...}}`: the JSON answer (output type `json`) validates
  against a JSON Schema (the `jsonschema` package, the schema's own draft).

This module owns the vocabulary and the validation (the API and the editor both call
`clean_checks`); it imports nothing of `runs`.
"""

from __future__ import annotations

import json

import jsonschema
import re2
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from schedules.models import OutputType

OUTPUT_PRESENT, MIN_SIZE, CONTAINS, NOT_CONTAINS, REGEX, JSON_SCHEMA = (
    "output_present", "min_size", "contains", "not_contains", "regex", "json_schema",
)
KINDS = (OUTPUT_PRESENT, MIN_SIZE, CONTAINS, NOT_CONTAINS, REGEX, JSON_SCHEMA)
# What each kind takes besides `kind`.
ARGUMENTS = {OUTPUT_PRESENT: (), MIN_SIZE: ("bytes",), CONTAINS: ("text",), NOT_CONTAINS: ("text",),
             REGEX: ("pattern",), JSON_SCHEMA: ("schema",)}
MAX_CHECKS = 20
MAX_TEXT = 1000
MAX_SCHEMA_BYTES = 32_000
# Output types that are no file: "an output is present" is no default for them.
NO_FILE_TYPES = (OutputType.NONE, OutputType.TEXT)


def default_checks(output_type: str) -> list[dict]:
    """What a new schedule checks when it says nothing: an output of its type came back."""
    return [] if output_type in NO_FILE_TYPES else [{"kind": OUTPUT_PRESENT}]


def compile_regex(pattern: str):
    """RE2, with its own error (e.g. a backreference, which RE2 refuses) as a ValueError."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        raise ValueError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None


def _problem(check, output_type: str) -> str:
    if not isinstance(check, dict) or check.get("kind") not in KINDS:
        return _("each check must be an object whose kind is one of: %(kinds)s") % {"kinds": ", ".join(KINDS)}
    kind = check["kind"]
    extra = set(check) - {"kind", *ARGUMENTS[kind]}
    if extra:
        return _("check %(kind)s takes no %(names)s") % {"kind": kind, "names": ", ".join(sorted(extra))}
    if kind == MIN_SIZE:
        size = check.get("bytes")
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 10**12:
            return _("min_size needs bytes, a whole number from 1, e.g. 1024")
    if kind in (CONTAINS, NOT_CONTAINS):
        text = check.get("text")
        if not isinstance(text, str) or not text or len(text) > MAX_TEXT or "\x00" in text:
            return _("%(kind)s needs text, 1 to %(max)s characters") % {"kind": kind, "max": MAX_TEXT}
    if kind == REGEX:
        pattern = check.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_TEXT or "\x00" in pattern:
            return _("regex needs a pattern, 1 to %(max)s characters") % {"max": MAX_TEXT}
        try:
            compile_regex(pattern)
        except ValueError as exc:
            return _("the regular expression %(pattern)s is not valid: %(error)s") % {"pattern": pattern, "error": exc}
    if kind == JSON_SCHEMA:
        if output_type != OutputType.JSON:
            return _("json_schema needs the output type json")
        schema = check.get("schema")
        if not isinstance(schema, dict) or len(json.dumps(schema)) > MAX_SCHEMA_BYTES:
            return _("json_schema needs a schema, a JSON object of at most %(max)s bytes") % {"max": MAX_SCHEMA_BYTES}
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            return _("the JSON Schema is not valid: %(error)s") % {"error": exc.message}
    return ""


def clean_checks(checks, *, output_type: str) -> list[dict]:
    """The checks as stored, or ValidationError({"success_checks": message}) naming the first problem.
    None (the admin's empty field) is no checks."""
    if checks is None:
        return []
    if not isinstance(checks, list) or len(checks) > MAX_CHECKS:
        raise ValidationError({"success_checks": _("success_checks must be a list of at most %(max)s checks") % {"max": MAX_CHECKS}})
    for index, check in enumerate(checks):
        if problem := _problem(check, output_type):
            raise ValidationError({"success_checks": _("check %(n)s: %(problem)s") % {"n": index + 1, "problem": problem}})
    # "An output is present" means nothing for output type none (e.g. after a PATCH to none): dropped.
    return [dict(c) for c in checks if not (c["kind"] == OUTPUT_PRESENT and output_type == OutputType.NONE)]
