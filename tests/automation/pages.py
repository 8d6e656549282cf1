"""Reading pages as a person (and a screen reader) would: controls by role and name."""

from __future__ import annotations

from html.parser import HTMLParser

HTMX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str = "") -> dict:
    """Headers of an HTMX request that swaps into the element with id `target`."""
    return {**HTMX, **({"HTTP_HX_TARGET": target} if target else {})}


class _Controls(HTMLParser):
    ROLES = {"button": "button", "switch": "switch", "link": "link"}

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str, dict]] = []
        self._open: list[tuple[str, str, dict, list[str]]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        role = attrs.get("role") or {"button": "button", "a": "link"}.get(tag)
        if tag in ("button", "a") and role in self.ROLES:
            self._open.append((tag, role, attrs, []))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            _, role, attrs, text = self._open.pop()
            self.found.append((role, " ".join("".join(text).split()), attrs))

    def handle_data(self, data):
        for _, _, _, text in self._open:
            text.append(data)


def controls(html: str | bytes) -> list[tuple[str, str, dict]]:
    """(role, accessible name, attributes) of every button, switch and link."""
    parser = _Controls()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return parser.found


def names(html, role: str) -> list[str]:
    return [name for found_role, name, _ in controls(html) if found_role == role]


def run_of(schedule, status: str = "success", *, at, **fields):
    """A run of `schedule` for the occurrence `at`, moved to `status` with `fields` as stored."""
    from datetime import timedelta

    from runs.models import ScheduleRun
    from tests.factories import make_run

    run = make_run(schedule, at=at, **{k: fields.pop(k) for k in ("trigger_type", "attempt", "job_run_id", "retry_of") if k in fields})
    if status != "queued":
        changes = {"status": status, "started_at": at, **fields}
        if status not in ("running",):
            changes.setdefault("finished_at", at + timedelta(seconds=72))
        ScheduleRun.objects.filter(pk=run.pk).update(**changes)
    elif fields:
        ScheduleRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run
