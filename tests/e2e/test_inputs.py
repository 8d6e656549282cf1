"""Run variables in Chromium: a chat draft whose prompt says {{ yesterday }} opens in the
editor, the China workday preset is one click, and the preview shows the prompt the next run
will send, resolved in the schedule's zone; axe-core finds nothing serious; Save keeps the
variable, not the date."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from schedules.models import Schedule
from tests.e2e.test_drawer import acme, eddie, serious, sign_in  # noqa: F401 (fixtures: org acme with agent echo, its editor)
from tests.factories import make_draft

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_chat_draft_with_yesterday_shows_the_resolved_prompt_and_saves_the_variable(page: Page, live_server, eddie, acme, fake_clock):
    # The suite's now: 2026-12-01 00:00 UTC, 08:00 on Tuesday 1 December in Shanghai.
    draft = make_draft(eddie, acme, agent="echo", prompt="Summarise the sales of {{ yesterday }} by region", session_id="sess-7")
    sign_in(page, live_server)
    page.goto(f"{live_server.url}/automation/schedules/new/?org=acme&draft={draft.pk}")
    drawer = page.get_by_role("dialog", name="New schedule")
    expect(drawer).to_be_visible()

    drawer.get_by_label("Time zone").fill("Asia/Shanghai")
    drawer.get_by_role("button", name="Workdays (China, official calendar) at 09:00").click()
    expect(drawer.get_by_label("Workday calendar")).to_have_value("cn-workdays")

    # The next run is at 09:00 on 1 December in Shanghai: its yesterday is 30 November.
    prompt = drawer.locator("#schedule-next-run-prompt")
    expect(prompt).to_have_text("Summarise the sales of 2026-11-30 by region")
    expect(drawer.get_by_text("2026-12-01T09:00:00+08:00")).to_be_visible()
    assert serious(Axe().run(page).response["violations"]) == []

    drawer.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/automation/schedules/[0-9a-f-]{36}/$"))
    schedule = Schedule.objects.get()
    assert (schedule.prompt, schedule.calendar, schedule.cron_expression) == (
        "Summarise the sales of {{ yesterday }} by region", "cn-workdays", "0 9 * * *"
    )
