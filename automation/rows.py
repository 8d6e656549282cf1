"""The schedules table's rows: one value per row (`ScheduleRow`: the schedule, what the viewer
may do to it, its links, the zone its times show in, its last run) and the one builder of
their HTML.

Why HTML in Python: the table shows 50 rows of about 60 lookups each, and Django's template
engine spent most of the page's time on them (a profile of the page under load: 70% of its
CPU in template rendering, the rows nearly all of it). Building each row with one format
string costs a fraction. tests/automation/test_rows.py reads the rows as a person would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape

from django.template.defaulttags import CsrfTokenNode
from django.urls import get_script_prefix, reverse
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from automation.formatting import (
    describe_timing,
    local_time,
    raw_timing,
    relative,
    run_status_label,
    schedule_status_label,
    source_chat_url,
)
from automation.selectors import LastRun
from schedules.models import Schedule
from schedules.permissions import DELETE, RUN, WRITE

# A row's links, by name -> URL name. Fifty rows reversing six URLs each was a fifth of the
# table's render time: each is reversed once and the pk put in.
ROW_URLS = {
    "detail": "schedule", "edit": "schedule-edit", "enable": "schedule-enable",
    "disable": "schedule-disable", "run_now": "schedule-run-now", "delete": "schedule-delete",
}
_PLACEHOLDER = str(uuid.UUID(int=0))


@lru_cache(maxsize=8)
def _row_url_patterns(script_prefix: str) -> dict[str, str]:
    return {key: reverse(f"automation:{name}", args=[_PLACEHOLDER]) for key, name in ROW_URLS.items()}


def row_urls(pk) -> dict[str, str]:
    """The row's links, as `reverse` would answer them (under the current script prefix)."""
    return {key: url.replace(_PLACEHOLDER, str(pk)) for key, url in _row_url_patterns(get_script_prefix()).items()}


@dataclass
class ScheduleRow:
    """What one schedule's row shows to one viewer (the model instance stays as stored)."""

    schedule: Schedule
    urls: dict[str, str]
    zone: str  # the zone its times are shown in: the viewer's, else the schedule's
    can_write: bool
    can_run: bool
    can_delete: bool
    last_run: LastRun | None = None
    # A fresh key per render: a double-submitted "Run now" form starts one run, not two.
    run_key: str = field(default_factory=lambda: uuid.uuid4().hex)


def schedule_row(schedule: Schedule, workspace, *, last_run: LastRun | None = None) -> ScheduleRow:
    urls = row_urls(schedule.pk)
    urls["switch"] = urls["disable" if schedule.enabled else "enable"]
    return ScheduleRow(
        schedule=schedule,
        urls=urls,
        zone=workspace.zone_for(schedule.timezone),
        can_write=workspace.can(WRITE, schedule),
        can_run=workspace.can(RUN, schedule),
        can_delete=workspace.can(DELETE, schedule),
        last_run=last_run,
    )


def esc(value) -> str:
    """`{{ value }}` in a template: escaped, except what is already safe HTML. Django's
    conditional_escape does the same; this skips its SafeString wrapper on every plain value
    (about twenty a row)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape(str(value))


LABELS = ("status", "name", "agent", "when", "zone", "next", "last", "actions", "enabled", "run_now", "edit",
          "delete", "never")


def render_rows(context) -> SafeString:
    """Every row of `page.rows`, from the template context the table partial renders with."""
    rows = context["page"].rows
    if not rows:
        return mark_safe("")
    shared = {
        "label": {name: conditional_escape(context.get(f"label_{name}", "")) for name in LABELS},
        "query": f"?{esc(context['query'])}" if context.get("query") else "",
        "here": esc(context.get("here", "")),
        "here_param": esc(context.get("here_param", "")),
        "csrf": CsrfTokenNode().render(context),
        "selected": context.get("selected"),
        "now": context.get("now"),
        "from_chat": esc(_("From chat")),
    }
    return mark_safe("".join(_row(row, **shared) for row in rows))


def _row(row: ScheduleRow, *, label, query, here, here_param, csrf, selected, now, from_chat) -> str:
    schedule, urls, zone = row.schedule, row.urls, row.zone
    pk = esc(schedule.pk)
    current = ' aria-current="true" class="selected"' if selected and selected.pk == schedule.pk else ""
    detail = f"{esc(urls['detail'])}{query}"
    source = ""
    if schedule.source_session_id:
        url = source_chat_url(schedule)
        link = f'<a href="{esc(url)}" target="_blank" rel="noopener noreferrer">{from_chat}</a>' if url else from_chat
        source = f'<br><span class="muted">{link}</span>'
    paused = ""
    if schedule.paused_reason:
        paused = f'<br><span class="muted" id="schedule-{pk}-paused">{esc(schedule.paused_reason)}</span>'
    raw = raw_timing(schedule)
    when = esc(describe_timing(schedule)) + (f"<br><code>{esc(raw)}</code>" if raw else "")
    if schedule.next_run_at:
        next_run = (f'{local_time(schedule.next_run_at, zone)} '
                    f'<span class="muted">{esc(relative(schedule.next_run_at, now))}</span>')
    else:
        next_run = "—"
    run = row.last_run
    if run:
        last_run = (f'<span class="status run-{esc(run.status)}"><span class="dot" aria-hidden="true"></span>'
                    f'{esc(run_status_label(run.status))}</span>\n'
                    f'    {local_time(run.created_at, zone)} <span class="muted">{esc(relative(run.created_at, now))}</span>')
    else:
        last_run = f'<span class="muted">{label["never"]}</span>'
    actions = ""
    if row.can_write:
        switch = esc(urls["switch"])
        actions += (f'\n    <form method="post" action="{switch}" hx-post="{switch}" hx-swap="none">\n'
                    f'      {csrf}<input type="hidden" name="next" value="{here}">\n'
                    f'      <button type="submit" id="schedule-{pk}-enabled" class="switch" role="switch" '
                    f'aria-checked="{"true" if schedule.enabled else "false"}">{label["enabled"]}</button>\n'
                    f'    </form>\n    ')
    actions += "\n    "
    if row.can_run:
        run_now = esc(urls["run_now"])
        actions += (f'\n    <form method="post" action="{run_now}" hx-post="{run_now}" hx-swap="none" '
                    f'hx-disabled-elt="find button">\n'
                    f'      {csrf}<input type="hidden" name="idempotency_key" value="{esc(row.run_key)}">\n'
                    f'      <button type="submit" id="schedule-{pk}-run-now">{label["run_now"]}</button>\n'
                    f'    </form>\n    ')
    actions += "\n    "
    if row.can_write:
        edit = esc(urls["edit"])
        actions += (f'\n    <a class="button" role="button" href="{edit}" hx-get="{edit}" hx-target="#drawer" '
                    f'hx-swap="innerHTML">{label["edit"]}</a>\n    ')
    actions += "\n    "
    if row.can_delete:
        delete = f'{esc(urls["delete"])}?next={here_param}'
        actions += (f'\n    <a class="button danger" role="button" href="{delete}"\n'
                    f'       hx-get="{delete}" hx-target="#confirm" hx-swap="innerHTML">{label["delete"]}</a>\n    ')
    return (
        f'\n\n<tr id="schedule-{pk}-row"{current}>\n'
        f'  <td data-label="{label["status"]}"><span class="status status-{esc(schedule.status)}">'
        f'<span class="dot" aria-hidden="true"></span>{esc(schedule_status_label(schedule.status))}</span>{paused}</td>\n'
        f'  <th scope="row" data-label="{label["name"]}">\n'
        f'    <a href="{detail}" hx-get="{detail}"\n'
        f'       hx-target="#main" hx-swap="innerHTML show:top" hx-push-url="true">{esc(schedule.name)}</a>\n'
        f'    {source}\n'
        f'  </th>\n'
        f'  <td data-label="{label["agent"]}">{esc(schedule.agent.name)} <code>{esc(schedule.agent.slug)}</code></td>\n'
        f'  <td data-label="{label["when"]}">{when}</td>\n'
        f'  <td data-label="{label["zone"]}">{esc(schedule.timezone)}</td>\n'
        f'  <td data-label="{label["next"]}">{next_run}</td>\n'
        f'  <td data-label="{label["last"]}">{last_run}</td>\n'
        f'  <td class="actions" data-label="{label["actions"]}">\n'
        f'    {actions}\n'
        f'  </td>\n'
        f'</tr>\n'
    )
