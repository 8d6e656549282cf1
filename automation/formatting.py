"""How the pages write times, durations, timings and links: the one home of these helpers.

Every time shown says its offset ("2026-12-01 09:00 UTC+08:00"); the machine-readable UTC
instant is in the <time> element's datetime attribute. The template tags
(automation/templatetags/automation.py) and the rows built in Python (automation/rows.py)
both call these, so a row reads the same whichever builds it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from runs.models import RunStatus
from schedules import timing
from schedules.models import ScheduleStatus


def offset_label(moment: datetime) -> str:
    """The UTC offset of an aware `moment`: "UTC+08:00" (schedules.timing's one formatter)."""
    return timing.offset_text(moment.utcoffset())


def in_zone(value: datetime, zone: str) -> datetime:
    try:
        tz = timing.validate_timezone(zone or "UTC")
    except timing.ScheduleError:
        tz = timezone.utc
    return value.astimezone(tz)


def local_text(value: datetime | None, zone: str, seconds: bool = False) -> str:
    """`value` in `zone` as plain text with its offset: 2026-12-01 09:00 UTC+08:00."""
    if value is None:
        return "—"
    local = in_zone(value, zone)
    return f"{local.strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')} {offset_label(local)}"


def local_time(value: datetime | None, zone: str, seconds: bool = False):
    """<time> showing `value` in `zone` with its offset, e.g. 2026-12-01 09:00 UTC+08:00.

    Built without format_html: every part is a date, a time or an offset that we write
    ourselves (no markup can get in), and a table page writes a hundred of these."""
    if value is None:
        return "—"
    local = in_zone(value, zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    utc = value.astimezone(timezone.utc)
    return mark_safe(
        f'<time datetime="{utc.isoformat().replace("+00:00", "Z")}" title="{utc.strftime("%Y-%m-%d %H:%M:%S")} UTC">'
        f'{text} <span class="zone">{offset_label(local)}</span></time>'
    )


@lru_cache(maxsize=32)
def _relative_words(language: str) -> dict[str, str]:
    """The words of `relative`, translated once per language (a table asks 100 times a page)."""
    return {
        "now": _("now"),
        "min": (_("in %(n)s min"), _("%(n)s min ago")),
        "h": (_("in %(n)s h"), _("%(n)s h ago")),
        "d": (_("in %(n)s d"), _("%(n)s d ago")),
    }


def relative(value: datetime | None, now: datetime) -> str:
    """'in 3 h', '5 min ago', 'now': how far `value` is from `now`, roughly."""
    if value is None:
        return ""
    words = _relative_words(get_language() or "")
    seconds = int((value - now).total_seconds())
    amount = abs(seconds)
    if amount < 60:
        return words["now"]
    if amount < 3600:
        n, (future, past) = amount // 60, words["min"]
    elif amount < 2 * 86400:
        n, (future, past) = amount // 3600, words["h"]
    else:
        n, (future, past) = amount // 86400, words["d"]
    return (future if seconds > 0 else past) % {"n": n}


def intcomma_plain(value) -> str:
    """12345678 -> "12,345,678" (tokens); "" for None."""
    return "" if value is None else f"{int(value):,}"


def duration(seconds: float | None) -> str:
    """1 h 5 min, 1 min 12 s, 3 s."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    if minutes:
        return _("%(m)s min %(s)s s") % {"m": minutes, "s": secs}
    return _("%(s)s s") % {"s": secs}


def describe_timing(schedule) -> str:
    """The schedule's timing in words, in the page's language."""
    try:
        return timing.describe(schedule.timing_spec(), get_language() or "en")
    except (timing.ScheduleError, ValueError):
        return ""


def raw_timing(schedule) -> str:
    """The expression as stored: the cron string or the interval in seconds ("" for once:
    its description already says the time)."""
    if schedule.schedule_type == "cron":
        return schedule.cron_expression
    if schedule.schedule_type == "interval":
        return _("every %(n)s s") % {"n": schedule.interval_seconds}
    return ""


def schedule_status_label(status: str) -> str:
    return ScheduleStatus(status).label


def run_status_label(status: str) -> str:
    """`run.get_status_display()` without rebuilding the field's choices on every call."""
    try:
        return RunStatus(status).label
    except ValueError:
        return status


def web_url(url) -> str:
    """`url` when it is an http(s) link, else "" (a javascript: URL from an agent is never a link)."""
    text = str(url or "")
    return text if urlsplit(text).scheme in ("http", "https") else ""


def chat_url(session_id: str, message_id: str = "") -> str:
    """A chat session on the execution plane (EXECUTION_PLANE_SESSION_URL), or ""."""
    if not session_id:
        return ""
    values = {"session_id": quote(session_id, safe=""), "message_id": quote(message_id or "", safe="")}
    return _fill(getattr(settings, "EXECUTION_PLANE_SESSION_URL", ""), values)


def _fill(pattern: str, values: dict) -> str:
    """A link from a URL template setting, or "" (no template, a bad one, or not http(s))."""
    if not pattern:
        return ""
    try:
        return web_url(pattern.format_map(values))
    except (KeyError, IndexError, ValueError):
        return ""


def session_url(run) -> str:
    """The run's chat session, or ""."""
    return chat_url(run.session_id, run.message_id)


def plane_refs(run) -> list[tuple[str, str]]:
    """What the Session cell shows: (text, link or "") for each id the plane gave the run.

    A LangGraph run names its thread and its run, linked through LANGGRAPH_THREAD_URL and
    LANGGRAPH_RUN_URL (e.g. LangGraph Studio); other planes name a session and a message.
    """
    if not run.session_id:
        return []
    if settings.EXECUTION_PLANE == "langgraph":
        values = {"thread_id": quote(run.session_id, safe=""), "run_id": quote(run.message_id or "", safe="")}
        refs = [(_("thread %(id)s") % {"id": run.session_id}, _fill(settings.LANGGRAPH_THREAD_URL, values))]
        if run.message_id:
            refs.append((_("run %(id)s") % {"id": run.message_id}, _fill(settings.LANGGRAPH_RUN_URL, values)))
        return refs
    refs = [(_("session %(id)s") % {"id": run.session_id}, session_url(run))]
    if run.message_id:
        refs.append((_("message %(id)s") % {"id": run.message_id}, ""))
    return refs


def source_chat_url(schedule) -> str:
    """The chat session a schedule was made from, or ""."""
    return chat_url(schedule.source_session_id, schedule.source_message_id)
