"""Human descriptions and previews of a schedule's timing, in English or Simplified Chinese."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import lru_cache

from .cron import compile_cron
from .occurrences import _utc, next_fires
from .types import CRON, INTERVAL, ONCE, Spec
from .wording import cron_words
from .zones import UTC, offset_text, validate_timezone

_UNITS = ((604800, "week", "周"), (86400, "day", "天"), (3600, "hour", "小时"), (60, "minute", "分钟"), (1, "second", "秒"))


def _is_chinese(language: str) -> bool:
    return (language or "").lower().replace("_", "-").startswith("zh")


@lru_cache(maxsize=2048)
def _describe_cron(expression: str, chinese: bool) -> str:
    return cron_words(compile_cron(expression)[0], chinese)


def _describe_interval(seconds: int, chinese: bool) -> str:
    for size, en, zh in _UNITS:
        if seconds % size == 0:
            n = seconds // size
            if chinese:
                return f"每{zh}" if n == 1 else f"每 {n} {zh}"
            return f"Every {en}" if n == 1 else f"Every {n} {en}s"
    return str(seconds)  # unreachable: every integer is a whole number of seconds


def _local(value: datetime, zone) -> str:
    """Local date and time; with its UTC offset when that wall time happens twice (fall back)."""
    local = _utc(value, "datetime").astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M")
    wall = local.replace(tzinfo=None)
    if wall.replace(tzinfo=zone, fold=0).utcoffset() != wall.replace(tzinfo=zone, fold=1).utcoffset():
        text += f" ({offset_text(local.utcoffset(), signed=True)})"
    return text


def describe(spec: Spec, language: str = "en") -> str:
    """E.g. "At 09:00, Monday through Friday (Asia/Shanghai)", "Every 15 minutes", "每 15 分钟"."""
    chinese = _is_chinese(language)
    zone = validate_timezone(spec.timezone)
    window = []
    if spec.start_at is not None:
        start = _local(spec.start_at, zone)
        window.append(f"，自 {start} 起" if chinese else f", from {start}")
    if spec.end_at is not None:
        end = _local(spec.end_at, zone)
        window.append(f"，至 {end} 止" if chinese else f", until {end}")
    if spec.calendar:
        window.append(f"，仅 {spec.calendar} 工作日" if chinese else f", on workdays of {spec.calendar}")
    suffix = "".join(window)
    if spec.schedule_type == CRON:
        return f"{_describe_cron(spec.cron_expression, chinese)}{suffix} ({spec.timezone})"
    if spec.schedule_type == INTERVAL:
        if not isinstance(spec.interval_seconds, int) or spec.interval_seconds <= 0:
            return ""
        text = _describe_interval(spec.interval_seconds, chinese)
        return f"{text}{suffix} ({spec.timezone})" if suffix else text
    if spec.schedule_type == ONCE and spec.run_at is not None:
        when = _local(spec.run_at, zone)
        return f"在 {when} {spec.timezone} 执行一次" if chinese else f"Once at {when} {spec.timezone}"
    return ""


def preview(spec: Spec, after: datetime, count: int = 5, language: str = "en") -> dict:
    """The description and the next `count` fire times, in UTC and in the schedule's zone."""
    after = _utc(after, "after")
    zone = validate_timezone(spec.timezone)
    if spec.schedule_type == INTERVAL and spec.start_at is None and spec.anchor is None:
        # Not saved yet: show it as if created now.
        spec = replace(spec, anchor=after)
    fires = next_fires(spec, after, count)
    return {
        "description": describe(spec, language),
        "timezone": spec.timezone,
        "next_runs": [
            {
                "utc": fire.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "local": fire.astimezone(zone).isoformat(timespec="seconds"),
            }
            for fire in fires
        ],
    }
