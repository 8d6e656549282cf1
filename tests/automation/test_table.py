"""The schedules table: what each row says, filters, pages, empty states, fragments, orgs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils.html import escape
from django.test.utils import CaptureQueriesContext

from automation.models import ViewerPreference
from schedules.models import Schedule
from tests.automation.pages import hx, names, run_of
from tests.factories import make_agent, make_membership, make_schedule, make_user

pytestmark = pytest.mark.django_db

TABLE = "/automation/schedules/"


def test_root_sends_a_signed_in_person_to_the_schedules_table(signed_in, alice):
    response = signed_in(alice).get("/")
    assert response.status_code == 302
    assert response["Location"] == TABLE


def test_the_table_asks_for_a_sign_in_first(client):
    response = client.get(TABLE)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={TABLE}"


def test_signing_in_leads_to_the_table_and_signing_out_says_so(client, alice):
    page = client.get("/accounts/login/?next=/automation/schedules/")
    assert page.status_code == 200
    assert names(page.content, "button") == ["Sign in"]
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-alice", "next": TABLE}, follow=True
    )
    assert response.redirect_chain[-1][0] == TABLE
    assert "Sign out" in names(response.content, "button")

    response = client.post("/accounts/logout/")
    assert response.status_code == 200
    assert "You are signed out" in response.content.decode()
    assert client.get(TABLE).status_code == 302


def test_a_wrong_password_is_said_in_words(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "The username and password did not match" in response.content.decode()


def test_a_row_says_name_agent_when_zone_next_run_and_last_run(signed_in, alice, acme, agent, now):
    schedule = make_schedule(
        acme, agent, name="Weekday sales", cron_expression="0 9 * * 1-5", timezone="Asia/Shanghai", now=now
    )
    run_of(schedule, "success", at=now - timedelta(hours=2))
    html = signed_in(alice).get(TABLE).content.decode()

    assert "Weekday sales" in html
    assert "At 09:00, Monday through Friday" in html and "<code>0 9 * * 1-5</code>" in html
    assert "Asia/Shanghai" in html
    # T0 is Tue 2026-12-01 00:00Z = 08:00 in Shanghai: next run 09:00 local, shown with its offset.
    assert "2026-12-01 09:00 <span class=\"zone\">UTC+08:00</span>" in html
    assert "Succeeded" in html
    assert "status-ok" in html and ">OK<" in html


def test_next_run_is_shown_in_the_viewers_time_zone_when_one_is_chosen(signed_in, alice, acme, agent, now):
    make_schedule(acme, agent, cron_expression="0 9 * * *", timezone="Asia/Shanghai", now=now)
    client = signed_in(alice)
    response = client.post("/automation/preferences/time-zone/", {"timezone": "UTC", "next": f"{TABLE}?q=x"})
    assert response.status_code == 302 and response["Location"] == f"{TABLE}?q=x"
    assert ViewerPreference.objects.get(user=alice).timezone == "UTC"

    html = client.get(TABLE).content.decode()
    assert "2026-12-01 01:00 <span class=\"zone\">UTC</span>" in html
    assert '<option value="UTC" selected>' in html


def test_an_unknown_viewer_time_zone_is_refused_in_words(signed_in, alice):
    response = signed_in(alice).post("/automation/preferences/time-zone/", {"timezone": "Asia/Shangai"})
    assert response.status_code == 400
    assert "Asia/Shanghai" in response.content.decode()  # the suggestion
    assert not ViewerPreference.objects.filter(user=alice).exists()


def _names_in_table(client, query=""):
    html = client.get(f"{TABLE}?{query}", **hx("schedules-table")).content.decode()
    return {s.name for s in Schedule.objects.all() if f">{escape(s.name)}</a>" in html}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=ok", {"healthy", "other agent's"}),
        ("status=failing", {"failing"}),
        ("status=disabled", {"off"}),
        ("status=finished", {"done"}),
        ("agent=other", {"other agent's"}),
        ("q=HEALT", {"healthy"}),
        ("q=agent%27s", {"other agent's"}),
        ("status=failing&q=healthy", set()),
        ("status=bogus", {"healthy", "failing", "off", "done", "other agent's"}),
    ],
)
def test_filters_by_status_agent_and_search(signed_in, alice, acme, agent, now, query, expected):
    make_schedule(acme, agent, name="healthy", now=now)
    failing = make_schedule(acme, agent, name="failing", now=now)
    Schedule.objects.filter(pk=failing.pk).update(consecutive_failures=2)
    make_schedule(acme, agent, name="off", enabled=False, now=now)
    done = make_schedule(acme, agent, name="done", now=now)
    Schedule.objects.filter(pk=done.pk).update(next_run_at=None)
    make_schedule(acme, make_agent(acme, "other"), name="other agent's", now=now)
    assert _names_in_table(signed_in(alice), query) == expected


def test_filter_state_lives_in_the_url_and_comes_back_on_reload(signed_in, alice, acme, agent, now):
    make_schedule(acme, agent, name="healthy", now=now)
    html = signed_in(alice).get(f"{TABLE}?org=acme&status=ok&q=heal").content.decode()
    assert '<option value="ok" selected>' in html
    assert 'name="q" value="heal"' in html
    # The table refreshes itself (after an action) with the same filters.
    assert f'hx-get="{TABLE}?org=acme&amp;q=heal&amp;status=ok"' in html


def test_pages_by_cursor_without_repeating_or_losing_a_row(signed_in, alice, acme, agent, now):
    for i in range(55):
        make_schedule(acme, agent, name=f"s{i:02d}", now=now + timedelta(seconds=i % 3))
    client = signed_in(alice)
    first = client.get(TABLE).content.decode()
    assert "50 of 55" in first
    next_url = next(a["href"] for role, name, a in _links(first) if name == "Next page")
    second = client.get(next_url.replace("&amp;", "&")).content.decode()
    seen_first = {f"s{i:02d}" for i in range(55) if f">s{i:02d}</a>" in first}
    seen_second = {f"s{i:02d}" for i in range(55) if f">s{i:02d}</a>" in second}
    assert len(seen_first) == 50 and len(seen_second) == 5
    assert seen_first | seen_second == {f"s{i:02d}" for i in range(55)}
    assert "Next page" not in names(second, "link")
    assert "First page" in names(second, "link")


def _links(html):
    from tests.automation.pages import controls

    return [c for c in controls(html) if c[0] == "link"]


def test_empty_org_explains_what_a_schedule_is_and_offers_new_schedule(signed_in, eddie):
    html = signed_in(eddie).get(TABLE).content.decode()
    assert "No schedules yet" in html
    assert "A schedule runs an agent for you at set times" in html
    assert "New schedule" in names(html, "button")


def test_empty_org_offers_no_new_schedule_to_a_viewer(signed_in, victor):
    html = signed_in(victor).get(TABLE).content.decode()
    assert "No schedules yet" in html
    assert "New schedule" not in names(html, "button")


def test_no_match_says_so_and_offers_to_clear_the_filters(signed_in, alice, acme, agent, now):
    make_schedule(acme, agent, name="healthy", now=now)
    html = signed_in(alice).get(f"{TABLE}?q=nothing-like-it").content.decode()
    assert "No schedule matches these filters" in html
    assert "Clear the filters" in names(html, "link")


def test_a_person_in_no_org_is_told_to_ask_for_access(signed_in, db):
    html = signed_in(make_user("newcomer")).get(TABLE).content.decode()
    assert "You are not a member of any organization" in html


def test_an_htmx_filter_request_gets_the_table_fragment_only(signed_in, alice, acme, agent, now):
    make_schedule(acme, agent, name="healthy", now=now)
    response = signed_in(alice).get(f"{TABLE}?q=heal", **hx("schedules-table"))
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="schedules-table"')
    assert "<html" not in html and "healthy" in html
    assert "HX-Request" in response["Vary"]


def test_a_history_restore_gets_the_whole_page(signed_in, alice):
    response = signed_in(alice).get(TABLE, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_the_schedule_url_highlights_its_row_and_opens_its_runs(signed_in, alice, acme, agent, now):
    schedule = make_schedule(acme, agent, name="Weekday sales", now=now)
    make_schedule(acme, agent, name="Other", now=now)
    html = signed_in(alice).get(f"{TABLE}{schedule.pk}/").content.decode()
    assert f'<tr id="schedule-{schedule.pk}-row" aria-current="true"' in html
    assert 'aria-labelledby="runs-title"' in html and ">Runs</h2>" in html
    assert "of “Weekday sales”" in html


def test_opening_a_row_swaps_the_main_fragment(signed_in, alice, acme, agent, now):
    schedule = make_schedule(acme, agent, name="Weekday sales", now=now)
    html = signed_in(alice).get(f"{TABLE}{schedule.pk}/", **hx("main")).content.decode()
    assert "<html" not in html and "<h1>Schedules</h1>" in html and ">Runs</h2>" in html


def test_another_orgs_schedule_is_a_404_page(signed_in, mallory, acme, agent, now):
    schedule = make_schedule(acme, agent, now=now)
    response = signed_in(mallory).get(f"{TABLE}{schedule.pk}/")
    assert response.status_code == 404
    assert "does not exist, or you cannot see it" in response.content.decode()
    assert "Back to schedules" in names(response.content, "link")


def test_an_outsider_never_sees_another_orgs_schedules(signed_in, mallory, acme, agent, now):
    make_schedule(acme, agent, name="acme secret", now=now)
    client = signed_in(mallory)
    assert "acme secret" not in client.get(TABLE).content.decode()
    assert client.get(f"{TABLE}?org=acme").status_code == 404


def test_a_member_of_two_orgs_switches_org_and_the_choice_is_remembered(signed_in, alice, acme, globex, agent, now):
    make_membership(alice, globex, "viewer")
    make_schedule(acme, agent, name="acme one", now=now)
    make_schedule(globex, make_agent(globex), name="globex one", now=now)
    client = signed_in(alice)
    html = client.get(TABLE).content.decode()
    assert 'id="org-switcher"' in html and "acme one" in html and "globex one" not in html

    html = client.get(f"{TABLE}?org=globex").content.decode()
    assert "globex one" in html and "acme one" not in html
    assert "New schedule" not in names(html, "button")  # a viewer in globex
    html = client.get(TABLE).content.decode()
    assert "globex one" in html, "the chosen org is remembered"


def test_a_member_of_one_org_sees_no_org_switcher(signed_in, alice):
    assert 'id="org-switcher"' not in signed_in(alice).get(TABLE).content.decode()


def test_language_follows_accept_language_and_the_language_control(client, alice, acme, agent, now):
    make_schedule(acme, agent, cron_expression="0 9 * * 1-5", now=now)
    client.force_login(alice)
    html = client.get(TABLE, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "新建定时任务" in names(html, "button") and "定时任务" in names(html, "link")
    assert "星期一" in html  # the timing description speaks Chinese too

    response = client.post("/i18n/setlang/", {"language": "en", "next": TABLE})
    assert response.status_code == 302
    html = client.get(TABLE, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "New schedule" in names(html, "button"), "the chosen language wins over the browser's"


@pytest.mark.parametrize("headers", [{}, hx("schedules-table")], ids=["page", "htmx-partial"])
def test_the_table_costs_the_same_queries_for_5_rows_or_50(signed_in, alice, acme, agent, now, headers):
    client = signed_in(alice)

    def queries_for(count):
        Schedule.objects.all().delete()
        for i in range(count):
            schedule = make_schedule(acme, agent, name=f"s{i}", now=now)
            run_of(schedule, "failed", at=now - timedelta(hours=1), error_code="plane_unreachable")
        client.get(TABLE)  # the first visit also stores the chosen org in the session
        with CaptureQueriesContext(connection) as captured:
            response = client.get(TABLE, **headers)
        assert response.status_code == 200
        assert response.content.decode().count('role="switch"') == count
        return len(captured)

    assert queries_for(5) == queries_for(50)


def test_the_table_reads_the_persons_grants_once_per_request(signed_in, alice, acme, agent, now):
    """Memberships and object grants are read for the workspace; the rows reuse them."""
    make_schedule(acme, agent, name="healthy", now=now)
    client = signed_in(alice)
    client.get(TABLE)
    for headers in ({}, hx("schedules-table")):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(TABLE, **headers).status_code == 200
        memberships = [q["sql"] for q in captured if 'FROM "schedules_membership"' in q["sql"]]
        assert len(memberships) == 1, memberships


def test_an_unknown_address_is_a_readable_404_page(signed_in, alice, settings):
    settings.DEBUG = False
    response = signed_in(alice).get("/automation/schedules/not-a-uuid/")
    assert response.status_code == 404
    assert "There is no page at this address" in response.content.decode()
    assert "Back to schedules" in names(response.content, "link")


@pytest.mark.parametrize("as_fragment", [False, True], ids=["page", "htmx-partial"])
def test_the_agent_filter_works_in_the_table_fragment_too(signed_in, alice, acme, agent, now, as_fragment):
    """The fragment reads only the asked agent (it shows no filter form); the result is the same."""
    make_schedule(acme, agent, name="mine", now=now)
    make_schedule(acme, make_agent(acme, "other"), name="theirs", now=now)
    client = signed_in(alice)
    headers = hx("schedules-table") if as_fragment else {}
    html = client.get(TABLE, {"agent": "other"}, **headers).content.decode()
    assert "theirs" in html and ">mine<" not in html
    html = client.get(TABLE, {"agent": "nobody"}, **headers).content.decode()
    assert "theirs" in html and ">mine<" in html, "an unknown agent counts as no filter"


def test_past_a_thousand_matches_the_count_says_so_without_counting_them_all(signed_in, alice, acme, agent, now, monkeypatch):
    monkeypatch.setattr("automation.selectors.COUNT_MAX", 3)
    for i in range(5):
        make_schedule(acme, agent, name=f"s{i}", now=now)
    assert "5 of 3+" in signed_in(alice).get(TABLE).content.decode()
    monkeypatch.setattr("automation.selectors.COUNT_MAX", 5)
    assert "5 of 5" in signed_in(alice).get(TABLE).content.decode()
