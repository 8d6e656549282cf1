"""Drafts from chat, as services: names from prompts, and one schedule per draft however
many saves race."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from audit.services import Actor
from schedules import drafts
from schedules.models import Schedule
from tests.constants import T0
from tests.factories import make_agent, make_org, make_user

SAVE = {"name": "Sales", "schedule_type": "cron", "cron_expression": "0 9 * * 1-5", "timezone": "Asia/Shanghai"}


@pytest.mark.parametrize(
    ("prompt", "name"),
    [
        ("summarise yesterday's sales as a PDF.", "Summarise yesterday's sales as a PDF"),
        ("Summarise yesterday's sales by region as a PDF.", "Summarise yesterday's sales by region as a PDF"),
        ("Count orders by region. Then chart them weekly", "Count orders by region"),
        ("List open tickets, e.g. those older than a week. Then mail me", "List open tickets, e.g. those older than a week"),
        ("Summarise yesterday's sales by region and by product line, with a chart of each week",
         "Summarise yesterday's sales by region and by product line…"),
        ("总结昨天的销售额。然后发给我", "总结昨天的销售额"),
        ("x" * 100, "X" + "x" * 58 + "…"),
    ],
)
def test_a_draft_is_named_after_its_prompts_first_sentence_cut_at_a_word(prompt, name):
    assert drafts.suggested_name(prompt) == name


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_saves_of_one_draft_racing_make_one_schedule():
    org = make_org("acme")
    agent = make_agent(org, "echo")
    user = make_user("eddie", org, "editor")
    draft = drafts.draft_create(
        user=user, org=org, data={"agent": agent.slug, "prompt": "Sum up sales", "session_id": "s-1"}, now=T0
    )
    results, errors, start = [], [], threading.Barrier(4)

    def save():
        try:
            start.wait()
            data = {**SAVE, "agent": agent, "prompt": draft.prompt}
            results.append(drafts.draft_save(actor=Actor(user=user), draft=draft, data=data, now=T0))
        except Exception as exc:  # reported below
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Schedule.objects.count() == 1
    schedule = Schedule.objects.get()
    assert {saved.pk for saved, _ in results} == {schedule.pk}
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert schedule.source_session_id == "s-1"
