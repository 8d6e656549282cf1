"""Run variables in a prompt (schedules/variables.py): their values at the occurrence, in the
schedule's zone, across midnight, daylight saving and the date line; the one filter; and the
words of a refusal."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from schedules import variables
from schedules.variables import LITERAL_OPEN, prompt_problem, render, resolve, values_at

UTC = timezone.utc


@pytest.fixture(autouse=True)
def _fresh_caches():
    # The values are memoised per (instant, zone): each test computes its own.
    variables._values.cache_clear()
    variables._moments.cache_clear()


def test_shanghai_at_half_past_midnight_is_already_tomorrow_of_utc():
    # 2026-12-03 16:30Z is 00:30 on 4 December in Shanghai: a UTC host would say the 3rd.
    at = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    values = values_at(at, "Asia/Shanghai")
    assert values == {
        "date": "2026-12-04",
        "yesterday": "2026-12-03",
        "tomorrow": "2026-12-05",
        "week": "2026-W49",
        "month": "2026-12",
        "previous_month": "2026-11",
        "scheduled_for": "2026-12-04T00:30:00+08:00",
        "timezone": "Asia/Shanghai",
    }


def test_new_york_fall_back_keeps_each_0130_offset():
    # 2026-11-01: 01:30 happens twice in New York, at 05:30Z (EDT) and 06:30Z (EST).
    first = values_at(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), "America/New_York")
    second = values_at(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), "America/New_York")
    assert first["scheduled_for"] == "2026-11-01T01:30:00-04:00"
    assert second["scheduled_for"] == "2026-11-01T01:30:00-05:00"
    assert first["date"] == second["date"] == "2026-11-01"
    assert first["yesterday"] == "2026-10-31" and first["previous_month"] == "2026-10"


def test_kiritimati_is_a_day_ahead_of_utc():
    # UTC+14: 10:00Z on 31 December is midnight of New Year's Day on the date line.
    values = values_at(datetime(2026, 12, 31, 10, 0, tzinfo=UTC), "Pacific/Kiritimati")
    assert (values["date"], values["yesterday"], values["month"], values["previous_month"]) == (
        "2027-01-01", "2026-12-31", "2027-01", "2026-12"
    )
    assert values["week"] == "2026-W53"  # 1 January 2027 is a Friday of ISO week 53 of 2026


def test_render_with_the_date_filter_in_chinese_and_the_literal_escape():
    at = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    prompt = 'Sales of {{ yesterday|date:"%Y年%m月%d日" }} ({{week}}); JSON like {{ "{{" }}"a": 1}}'
    assert render(prompt, at=at, timezone="Asia/Shanghai") == 'Sales of 2026年12月03日 (2026-W49); JSON like {{"a": 1}}'


def test_week_and_month_format_their_first_day():
    at = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    text = render('{{ week|date:"%d %b" }} / {{ previous_month|date:"%B %Y" }}', at=at, timezone="UTC")
    assert text == "30 Nov / November 2026"


def test_a_prompt_without_variables_is_sent_as_written():
    text, values = resolve("Summarise yesterday's sales", at=datetime(2026, 12, 4, tzinfo=UTC), timezone="UTC")
    assert (text, values) == ("Summarise yesterday's sales", {})


@pytest.mark.parametrize(
    "prompt, words",
    [
        ("Report for {{ today }}", "unknown variable 'today' at character 12"),
        ("Report {{ date", "'{{' at character 8 is not closed"),
        ("{{ date.year }}", "'{{ date.year }}' at character 1 is not a variable"),
        ("{{ __import__('os') }}", "is not a variable"),
        ("{{ date|upper }}", "unknown filter 'upper' at character 1; the one filter is date:\"<format>\""),
        ('{{ date|date:"' + "x" * 65 + '" }}', "the date format at character 1 must be 1 to 64 characters"),
        ('{{ timezone|date:"%Y" }}', "'timezone' at character 1 is not a date"),
        ("{{ }}", "is not a variable"),
    ],
)
def test_a_malformed_prompt_is_refused_in_words(prompt, words):
    problem = prompt_problem(prompt)
    assert words in problem
    assert problem.startswith(words) or words == "is not a variable"
    # Every refusal of a tag tells how to write a literal '{{'.
    if "not a variable" in words or "not closed" in words:
        assert LITERAL_OPEN in problem


def test_a_stored_prompt_that_no_longer_parses_is_sent_unchanged():
    assert render("{{ nope }}", at=datetime(2026, 12, 4, tzinfo=UTC), timezone="UTC") == "{{ nope }}"


def test_resolve_returns_the_prompt_and_every_value_when_it_names_a_variable():
    at = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # midnight of New Year's Day in Shanghai
    text, values = resolve("Sales of {{ previous_month }} ({{ timezone }})", at=at, timezone="Asia/Shanghai")
    assert text == "Sales of 2026-12 (Asia/Shanghai)"
    assert values == values_at(at, "Asia/Shanghai")
    assert (values["date"], values["month"], values["week"]) == ("2027-01-01", "2027-01", "2026-W53")
