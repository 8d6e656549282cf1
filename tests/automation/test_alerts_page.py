"""The alerts page: who sees and who edits, the test alert's outcomes, Resume, the banner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from audit.models import AuditAction, AuditEvent
from config import clock
from runs.alerts.delivery import deliver_due
from runs.alerts.services import alert_raise
from runs.models import AlertCause, AlertChannel
from schedules.services import schedule_pause
from audit.services import Actor
from tests.constants import T0
from tests.factories import make_heartbeat, make_schedule

pytestmark = pytest.mark.django_db
URL = "/automation/alerts/"


def test_every_member_reads_alerts_and_an_outsider_gets_404_for_the_org(signed_in, personas, acme, agent):
    schedule = make_schedule(acme, agent, name="Sales")
    alert_raise(org_id=acme.pk, cause=AlertCause.CONSECUTIVE_FAILURES, schedule_id=schedule.pk, detail="3 runs failed", now=T0)
    for role in ("admin", "editor", "operator", "viewer"):
        response = signed_in(personas[role]).get(URL)
        assert response.status_code == 200
        assert "3 runs failed" in response.content.decode()
    assert signed_in(personas["outsider"]).get(URL + "?org=acme").status_code == 404
    assert "3 runs failed" not in signed_in(personas["outsider"]).get(URL).content.decode()


def test_only_an_admin_adds_channels_and_the_403_names_the_permission(signed_in, personas, acme):
    data = {"new-kind": "email", "new-name": "Ops", "new-target": "ops@example.com"}
    response = signed_in(personas["editor"]).post(URL + "channels/?org=acme", data)
    assert response.status_code == 403
    assert "alerts:manage" in response.content.decode()
    assert not AlertChannel.objects.exists()
    response = signed_in(personas["admin"]).post(URL + "channels/?org=acme", data)
    assert response.status_code == 302
    channel = AlertChannel.objects.get()
    assert (channel.name, channel.target) == ("Ops", "ops@example.com")
    assert AuditEvent.objects.filter(target_type="alertchannel", action=AuditAction.CREATE, actor=personas["admin"]).exists()


def test_a_refused_address_is_said_beside_the_field(signed_in, alice, acme, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    data = {"new-kind": "webhook", "new-name": "Internal", "new-target": "http://127.0.0.1:8080/hook"}
    response = signed_in(alice).post(URL + "channels/?org=acme", data)
    assert response.status_code == 400
    assert "is not allowed: alerts are only sent to public addresses" in response.content.decode()


def test_a_refused_name_is_not_told_what_it_resolves_to(signed_in, alice, acme, settings):
    """An internal name (here `localhost`) is refused without saying its address; the log keeps it."""
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    data = {"new-kind": "webhook", "new-name": "Internal", "new-target": "http://localhost:8080/hook"}
    response = signed_in(alice).post(URL + "channels/?org=acme", data)
    page = response.content.decode()
    assert response.status_code == 400
    assert "the address of localhost is not allowed" in page
    assert "127.0.0.1" not in page and "::1" not in page


def test_an_admin_edits_and_removes_a_channel_but_not_another_orgs(signed_in, alice, mallory, acme):
    signed_in(alice).post(URL + "channels/?org=acme", {"new-kind": "email", "new-name": "Ops", "new-target": "ops@example.com"})
    channel = AlertChannel.objects.get()
    prefix = f"c{channel.pk}"
    response = signed_in(alice).post(
        f"{URL}channels/{channel.pk}/?org=acme", {f"{prefix}-kind": "email", f"{prefix}-name": "Night ops", f"{prefix}-target": "night@example.com"}
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.target) == ("Night ops", "night@example.com")
    assert signed_in(mallory).post(f"{URL}channels/{channel.pk}/remove/").status_code == 404
    assert signed_in(alice).post(f"{URL}channels/{channel.pk}/remove/?org=acme").status_code == 302
    assert not AlertChannel.objects.exists()


def test_send_test_alert_shows_each_channels_outcome(signed_in, alice, acme):
    signed_in(alice).post(URL + "channels/?org=acme", {"new-kind": "email", "new-name": "Ops", "new-target": "ops@example.com"})
    response = signed_in(alice).post(URL + "test/?org=acme")
    assert response.status_code == 302
    deliver_due(now=clock.now())  # the scheduler's alerts step
    page = signed_in(alice).get(response["Location"]).content.decode()
    assert "Test alert results" in page
    assert "<strong>Ops</strong> (E-mail):" in page and "Delivered" in page
    assert len(mail.outbox) == 1 and "Test alert" in mail.outbox[0].body


def test_a_paused_schedule_shows_its_reason_and_resume_re_enables_it(signed_in, personas, acme, agent):
    schedule = make_schedule(acme, agent, name="Sales")
    schedule_pause(actor=Actor.system(), schedule=schedule, reason="Paused itself after 3 failures in a row.", now=T0)
    page = signed_in(personas["viewer"]).get(URL).content.decode()
    assert "Paused itself after 3 failures in a row." in page and "Resume Sales" not in page
    table = signed_in(personas["viewer"]).get("/automation/schedules/").content.decode()
    assert f'id="schedule-{schedule.pk}-paused">Paused itself after 3 failures in a row.' in table
    page = signed_in(personas["editor"]).get(URL).content.decode()
    assert 'aria-label="Resume Sales"' in page
    response = signed_in(personas["viewer"]).post(f"/automation/schedules/{schedule.pk}/enable/")
    assert response.status_code == 403 and "schedules:write" in response.content.decode()
    response = signed_in(personas["editor"]).post(f"/automation/schedules/{schedule.pk}/enable/", {"next": URL})
    assert response.status_code == 302 and response["Location"] == URL
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.paused_reason == ""


def test_the_banner_says_how_long_ago_the_scheduler_ran(signed_in, victor, acme, agent, fake_clock, settings):
    settings.SCHEDULER_STALL_SECONDS = 120
    make_schedule(acme, agent, cron_expression="0 1 * * *", now=T0)
    make_heartbeat("r1", at=T0 + timedelta(minutes=59))
    fake_clock.set(T0 + timedelta(hours=1, minutes=3))
    page = signed_in(victor).get("/automation/schedules/").content.decode()
    assert "Schedules are late: the scheduler last ran 4 min ago" in page
    make_heartbeat("r2", at=T0 + timedelta(hours=1, minutes=3))
    assert "Schedules are late" not in signed_in(victor).get("/automation/schedules/").content.decode()


def test_the_page_speaks_chinese_and_says_when_there_is_no_channel(signed_in, alice, acme):
    page = signed_in(alice).get(URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "告警" in page and "发送测试告警" in page
    page = signed_in(alice).post(URL + "test/?org=acme", follow=True).content.decode()
    assert "There is no channel to send to: add a webhook or an e-mail channel below." in page
