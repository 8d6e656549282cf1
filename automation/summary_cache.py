"""The org's 24-hour summary (the chart above the table), cached while the runs stay the same.

The summary reads every run of the org's window (runs/metrics/scan.py): at 10,000 schedules,
tens of thousands of rows, on every page load and every `runs:changed`. Its key holds
- the org's id and the viewer's scope in it (the whole org, or the schedules granted one by
  one), so one org's figures are never served for another, nor an org's to a person who may
  read only some of its schedules;
- the runs state the watcher uses (automation/live.py): a run that starts, ends or appears
  makes a new key, so the summary changes with the rest of the page, never after it;
- the minute, so the window's start moves on.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.core.cache import cache

from automation.live import runs_state
from runs.metrics.summary import Summary, runs_summary, summary_runs_for
from schedules.permissions import READ

WINDOW = "24h"
TIMEOUT = 120  # seconds; the minute in the key retires an entry sooner


def viewer_scope(grants, org) -> str:
    """'org' for a reader of the whole org, else a digest of the schedules granted in it."""
    if READ in grants.for_org(org.pk):
        return "org"
    ids = sorted(str(pk) for pk in grants.schedule_ids(READ))
    return "some-" + hashlib.blake2b("|".join(ids).encode(), digest_size=12).hexdigest()


def summary_key(org, scope: str, token: str, now: datetime) -> str:
    return f"automation:org-summary:v1:org-{org.pk}:{scope}:{token}:{now:%Y%m%dT%H%M}"


def org_summary(user, workspace, *, now: datetime) -> Summary:
    org = workspace.org
    key = summary_key(org, viewer_scope(workspace.grants, org), runs_state(workspace.grants, org, now=now).token, now)
    summary = cache.get(key)
    if summary is None:
        summary = runs_summary(runs=summary_runs_for(user, org=org.slug), window=WINDOW, now=now)
        cache.set(key, summary, TIMEOUT)
    return summary
