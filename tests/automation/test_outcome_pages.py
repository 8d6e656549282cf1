"""The pages of success checks and budgets: the editor's sections, the runs panel, "Why didn't it run?"."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from runs.models import RunErrorCode
from schedules.models import Schedule, UsageMonth
from tests.automation.pages import hx, run_of
from tests.automation.test_drawer import NEW, fields, form_data
from tests.constants import UTC
from tests.factories import make_schedule

pytestmark = pytest.mark.django_db

DEC_1 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_the_editor_saves_what_success_means_and_the_budget(signed_in, eddie, acme, agent, fake_clock):
    fake_clock.set(DEC_1 - timedelta(days=1))
    client = signed_in(eddie)
    html = client.get(NEW, **hx("drawer")).content.decode()
    found = fields(html)
    assert "<summary>Success means</summary>" in html and "<summary>Budget</summary>" in html
    assert "checked" in found["An output of the output type comes back"]
    assert "checked" in found["Retry when a check fails"]
    assert "runs already in flight can spend past the budget" in html

    data = form_data(
        check_output_present="on", check_min_size="1024", check_contains="Total", retry_failed_checks="on",
        monthly_token_budget="2000000", monthly_cost_budget_usd="20.00", max_tokens="200000",
    )
    response = client.post(NEW, data, **hx("schedule-form"))
    assert response.status_code == 204 and "schedule:saved" in response["HX-Trigger"], response.content.decode()[:2000]
    schedule = Schedule.objects.get(name="Weekday sales brief")
    assert schedule.success_checks == [
        {"kind": "output_present"}, {"kind": "min_size", "bytes": 1024}, {"kind": "contains", "text": "Total"},
    ]
    assert (schedule.monthly_token_budget, schedule.monthly_cost_budget_usd, schedule.max_tokens) == (
        2_000_000, Decimal("20.00"), 200_000,
    )
    edit = fields(client.get(f"/automation/schedules/{schedule.pk}/edit/", **hx("drawer")).content.decode())
    assert edit["The answer contains"]["value"] == "Total" and edit["Monthly token budget"]["value"] == "2000000"


def test_a_regex_re2_refuses_is_shown_beside_its_field(signed_in, eddie, acme, agent, fake_clock):
    fake_clock.set(DEC_1 - timedelta(days=1))
    response = signed_in(eddie).post(NEW, form_data(check_regex=r"(a)\1"), **hx("schedule-form"))
    html = response.content.decode()
    assert "Not a regular expression RE2 accepts: invalid escape sequence" in html
    assert not Schedule.objects.exists()


def test_the_runs_panel_shows_the_failed_check_the_usage_and_the_budget(signed_in, alice, acme, agent, fake_clock):
    fake_clock.set(DEC_1 + timedelta(hours=2))
    schedule = make_schedule(acme, agent, output_type="pdf", monthly_token_budget=1000)
    run_of(schedule, "failed", at=DEC_1, error_code=RunErrorCode.OUTPUT_CHECK_FAILED, error_message="no PDF output",
           input_tokens=1200, output_tokens=300, total_tokens=1500, cost_usd=Decimal("0.0042"))
    UsageMonth.objects.create(org=acme, schedule=schedule, month=DEC_1.date(), period_end=datetime(2027, 1, 1, tzinfo=UTC),
                              total_tokens=1500, cost_usd=Decimal("0.0042"), exceeded_at=DEC_1)
    html = signed_in(alice).get(f"/automation/schedules/{schedule.pk}/runs/", **hx("runs-panel")).content.decode()
    assert "<code>output_check_failed</code> no PDF output" in html
    assert "1,500 tokens · $0.0042" in html
    assert "This month (2026-12): 1,500 tokens, $0.00." in html and "Schedule budget: 1,000 tokens." in html
    assert "A monthly budget is spent: new runs are skipped until next month." in html
    assert "Usage is known only when a run ends, so runs already in flight can spend past a budget." in html


def test_why_shows_and_counts_budget_skips_in_both_languages(signed_in, alice, acme, agent, fake_clock):
    fake_clock.set(DEC_1 + timedelta(days=1))
    schedule = make_schedule(acme, agent, cron_expression="0 9 * * *", now=DEC_1 - timedelta(days=2))
    run_of(schedule, "skipped", at=DEC_1, error_code=RunErrorCode.BUDGET_EXCEEDED,
           error_message="the schedule's monthly budget is spent (1,150 tokens used in 2026-12)")
    url = f"/automation/schedules/{schedule.pk}/why/?start=2026-11-30T00:00&end=2026-12-02T00:00"
    html = signed_in(alice).get(url).content.decode()
    assert "Skipped: the monthly budget was spent" in html
    assert "1 was skipped because a monthly budget was spent." in html
    chinese = signed_in(alice).get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "跳过：月度预算已用完" in chinese
