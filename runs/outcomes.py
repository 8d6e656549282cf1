"""Judging a succeeded session by what the agent produced: the schedule's success checks.

`judge(run, result)` is called once, where a plane's final result is recorded
(`lifecycle.run_apply_plane_result`): a `success` that fails a check becomes `failed` with
`output_check_failed` and the check's own words ("no PDF output", "report.pdf is 0 bytes").
The checks themselves are `schedules.checks`'.

What is read: the outputs' `type`, `name`, `size_bytes` (or the length of a `data:` URL) and
the run's text `answer`. Nothing is downloaded, unless the operator names hosts in
OUTPUT_FETCH_HOSTS: then a text check with no answer reads the first output of the schedule's
type from such a host, through the alert webhooks' address checks (private addresses refused),
at most OUTPUT_FETCH_MAX_BYTES.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import jsonschema
import structlog
from django.conf import settings

from runs.alerts.delivery import fetch_checked
from runs.models import RunErrorCode
from runs.plane.base import PlaneResult, PlaneStatus
from schedules import checks as kinds
from schedules.models import OutputType, Schedule

log = structlog.get_logger("runs.outcomes")

TEXT_KINDS = (kinds.CONTAINS, kinds.NOT_CONTAINS, kinds.REGEX, kinds.JSON_SCHEMA)


@dataclass(frozen=True)
class Verdict:
    message: str  # the failed check's words
    retry: bool  # the schedule's choice (retry_failed_checks)


def _schedule_of(run) -> Schedule:
    # The dispatcher's runs come with their schedule (admission loads what a plane call reads).
    if type(run).schedule.is_cached(run):
        return run.schedule
    return Schedule.objects.only("success_checks", "retry_failed_checks").get(pk=run.schedule_id)


def _label(output_type: str) -> str:
    return {OutputType.MARKDOWN: "Markdown", OutputType.TEXT: "text"}.get(output_type, output_type.upper())


def size_of(output: dict) -> int | None:
    """`size_bytes` when the plane sent it, else a `data:` URL's decoded length, else unknown."""
    if isinstance(output.get("size_bytes"), int):
        return output["size_bytes"]
    url = output.get("url", "")
    if url.startswith("data:") and "," in url:
        head, data = url.split(",", 1)
        if head.endswith(";base64"):
            try:
                return len(base64.b64decode(data, validate=False))
            except (binascii.Error, ValueError):
                return None
        return len(data.encode())
    return None


def _fetch(outputs: list[dict]) -> str:
    """The first fetchable output's text (OUTPUT_FETCH_HOSTS only), or "" (logged why)."""
    hosts = {h.lower() for h in settings.OUTPUT_FETCH_HOSTS}
    for output in outputs:
        parts = urlsplit(output.get("url", ""))
        if not hosts or (parts.hostname or "").lower() not in hosts:
            continue
        try:
            body = fetch_checked(
                output["url"], seconds=settings.OUTPUT_FETCH_TIMEOUT_SECONDS, max_bytes=settings.OUTPUT_FETCH_MAX_BYTES
            )
        except Exception as exc:  # noqa: BLE001 - a fetch failure is "no text"
            log.warning("outcomes.fetch_failed", host=parts.hostname, error=str(exc)[:300])
            continue
        return body.decode("utf-8", "replace")
    return ""


def _text(result: PlaneResult, outputs: list[dict], memo: dict) -> str:
    if "text" not in memo:
        memo["text"] = result.answer or _fetch(outputs)
    return memo["text"]


def failed_check(checks: list[dict], *, output_type: str, result: PlaneResult) -> str:
    """The words of the first check the result fails, or "" when it passes them all."""
    mine = [o for o in result.outputs if o.get("type") == output_type]
    memo: dict = {}
    for check in checks:
        kind = check.get("kind")
        if kind == kinds.OUTPUT_PRESENT:
            if not mine and not (output_type == OutputType.TEXT and result.answer):
                return f"no {_label(output_type)} output"
        elif kind == kinds.MIN_SIZE:
            if not mine and result.answer and output_type in (OutputType.TEXT, OutputType.JSON, OutputType.MARKDOWN):
                if len(result.answer.encode()) < check["bytes"]:
                    return f"the answer is {len(result.answer.encode()):,} bytes, less than {check['bytes']:,}"
                continue
            if not mine:
                return f"no {_label(output_type)} output"
            for output in mine:
                size = size_of(output)
                name = output.get("name") or output.get("type")
                if size is None:
                    return f"{name} has no size (the execution plane sent no size_bytes)"
                if size < check["bytes"]:
                    return f"{name} is {size:,} bytes, less than {check['bytes']:,}"
        elif kind in TEXT_KINDS:
            text = _text(result, mine, memo)
            if kind == kinds.CONTAINS and check["text"] not in text:
                return f"the answer does not contain “{check['text']}”"
            if kind == kinds.NOT_CONTAINS and check["text"] in text:
                return f"the answer contains “{check['text']}”"
            if kind == kinds.REGEX and not kinds.compile_regex(check["pattern"]).search(text):
                return f"the answer does not match the regular expression {check['pattern']}"
            if kind == kinds.JSON_SCHEMA:
                if problem := _schema_problem(check["schema"], text):
                    return problem
    return ""


def _schema_problem(schema: dict, text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"the answer is not JSON ({exc})"
    error = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(value))
    if error is None:
        return ""
    where = "/".join(str(p) for p in error.absolute_path) or "the top level"
    return f"the JSON answer does not match its schema at {where}: {error.message}"[:1000]


def judge(run, result: PlaneResult) -> tuple[PlaneResult, Verdict | None]:
    """The result to record: unchanged, or `failed` with output_check_failed when a check fails."""
    if result.status != PlaneStatus.SUCCESS:
        return result, None
    schedule = _schedule_of(run)
    if not schedule.success_checks:
        return result, None
    message = failed_check(schedule.success_checks, output_type=run.output_type, result=result)
    if not message:
        return result, None
    verdict = Verdict(message=message, retry=schedule.retry_failed_checks)
    failed = replace(
        result, status=PlaneStatus.FAILED, error_code=RunErrorCode.OUTPUT_CHECK_FAILED, error_message=message
    )
    return failed, verdict
