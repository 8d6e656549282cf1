"""The alerts page (/automation/alerts/): open and resolved alerts, paused schedules with
"Resume", the org's channels (admins edit), and "Send test alert".

Thin, as the other pages: the workspace says who looks at which org, the runs app's alert
services write, `page_errors` answers their domain errors.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from automation.errors import page_errors
from automation.limits import writes
from automation.rows import schedule_row
from automation.views.common import done, fragment_request, render_page
from automation.workspace import workspace_for
from config import clock
from config.api.throttling import AlertTestThrottle, check_rate
from config.errors import MissingPermission, NotVisible
from runs.alerts import channels as channel_services
from runs.alerts.services import alert_send_test
from runs.models import Alert, AlertCause, AlertChannel, AlertEvent, AlertState, ChannelKind
from runs.selectors import delivery_progress
from schedules.models import Schedule
from schedules.permissions import READ

TEMPLATE = "automation/alerts.html"
RESOLVED_SHOWN = 20
TEST_WAIT = timedelta(minutes=2)  # how long the test results poll for a first outcome


class ChannelForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=ChannelKind.choices)
    name = forms.CharField(label=_("Name"), max_length=100)
    target = forms.CharField(
        label=_("Address"), max_length=500,
        help_text=_("A webhook URL (https://hooks.example.com/alerts) or an e-mail address (ops@example.com)."),
    )
    secret = forms.CharField(
        label=_("Signing secret"), max_length=200, required=False,
        help_text=_("Webhooks: signs each body (HMAC-SHA256). Leave empty to keep the current one, or to get a new one."),
    )


def _workspace(request):
    workspace = workspace_for(request)
    if workspace.org is not None and not workspace.org_can(READ):
        raise MissingPermission(READ)
    return workspace


def _context(request, workspace, *, form=None, edit_forms=None) -> dict:
    context = {"workspace": workspace, "now": clock.now()}
    org = workspace.org
    if org is None:
        return context
    manage = channel_services.can_manage(workspace.grants, org)
    test_id = request.GET.get("test", "")
    if manage and test_id.isdigit():
        context["test"] = _test(workspace, int(test_id))
    alerts = Alert.objects.filter(org=org).select_related("schedule").order_by("-opened_at")
    paused = [
        schedule_row(schedule, workspace)
        for schedule in Schedule.objects.filter(org=org, enabled=False).exclude(paused_reason="").order_by("name")
    ]
    channels = list(AlertChannel.objects.filter(org=org))
    for channel in channels:
        # A webhook URL is often the credential itself: whole only for who manages channels.
        channel.shown_target = channel_services.shown_target(channel, manage=manage)
        channel.form = (edit_forms or {}).get(channel.pk) or ChannelForm(
            initial={"kind": channel.kind, "name": channel.name, "target": channel.target}, prefix=f"c{channel.pk}"
        )
    context.update(
        open_alerts=list(alerts.filter(state=AlertState.OPEN)),
        resolved_alerts=list(alerts.filter(state=AlertState.RESOLVED)[:RESOLVED_SHOWN]),
        paused=paused,
        channels=channels,
        can_manage=manage,
        form=form or ChannelForm(prefix="new"),
        here=f"{reverse('automation:alerts')}?org={org.slug}",
    )
    return context


@require_GET
@login_required
@page_errors
def alerts_page(request):
    workspace = _workspace(request)
    return render_page(request, TEMPLATE, _context(request, workspace))


def _managing(request):
    workspace = _workspace(request)
    if workspace.org is None:
        raise MissingPermission(channel_services.MANAGE)
    channel_services.check_manage(workspace.grants, workspace.org)
    return workspace


@require_POST
@login_required
@page_errors
@writes
def alert_test(request):
    """Queue a test alert to every channel (the scheduler sends it) and show its progress.

    The request only writes the outbox rows: no web worker waits on a webhook or a mail server.
    At most ALERT_TEST_THROTTLE per org, whoever clicks.
    """
    workspace = _managing(request)
    check_rate(AlertTestThrottle, request, ident=f"org-{workspace.org.pk}")
    event = alert_send_test(org=workspace.org, now=clock.now())
    return done(request, f"{_here(workspace)}&test={event.pk}")


@require_GET
@login_required
@page_errors
def alert_test_status(request, event_id):
    """The test alert's results (HTMX polls this while a delivery has no outcome yet)."""
    workspace = _managing(request)
    test = _test(workspace, event_id)
    if not fragment_request(request):
        return redirect(test["page_url"])
    return render_page(request, f"{TEMPLATE}#test-results", {"workspace": workspace, "test": test})


def _test(workspace, event_id) -> dict:
    event = AlertEvent.objects.filter(pk=event_id, alert__org=workspace.org, alert__cause=AlertCause.TEST).first()
    if event is None:
        raise NotVisible("test alert not found")
    deliveries = delivery_progress(event)
    pending = any(delivery.first_try is None for delivery in deliveries)
    # Still queued after a while: the scheduler is not sending (stopped, or busy); stop polling and say so.
    stuck = pending and clock.now() - event.at > TEST_WAIT
    return {
        "deliveries": deliveries,
        "pending": pending and not stuck,
        "stuck": stuck,
        "url": f"{reverse('automation:alert-test-status', args=[event.pk])}?org={workspace.org.slug}",
        "page_url": f"{_here(workspace)}&test={event.pk}",
    }


def _save(request, workspace, form, write, *, context: dict):
    """The channel form's answer: saved -> back to the page; refused -> the page, errors beside the fields."""
    if form.is_valid():
        try:
            write(actor=Actor.from_request(request), data=form.cleaned_data, now=clock.now())
        except forms.ValidationError as exc:
            _add_errors(form, exc)
        else:
            return done(request, _here(workspace))
    return render_page(request, TEMPLATE, _context(request, workspace, **context), status=400)


@require_POST
@login_required
@page_errors
@writes
def channel_add(request):
    workspace = _managing(request)
    form = ChannelForm(request.POST, prefix="new")
    write = partial(channel_services.channel_create, org=workspace.org)
    return _save(request, workspace, form, write, context={"form": form})


@require_POST
@login_required
@page_errors
@writes
def channel_edit(request, pk):
    workspace = _managing(request)
    channel = _channel(workspace, pk)
    form = ChannelForm(request.POST, prefix=f"c{channel.pk}")
    write = partial(channel_services.channel_update, channel=channel)
    return _save(request, workspace, form, write, context={"edit_forms": {channel.pk: form}})


@require_POST
@login_required
@page_errors
@writes
def channel_remove(request, pk):
    workspace = _managing(request)
    channel = _channel(workspace, pk)
    channel_services.channel_delete(actor=Actor.from_request(request), channel=channel, now=clock.now())
    return done(request, _here(workspace))


def _channel(workspace, pk) -> AlertChannel:
    channel = AlertChannel.objects.filter(pk=pk, org=workspace.org).first()
    if channel is None:
        raise NotVisible("channel not found")  # another org's channel is not found, as its schedules are
    return channel


def _here(workspace) -> str:
    return f"{reverse('automation:alerts')}?org={workspace.org.slug}"


def _add_errors(form, exc) -> None:
    for field, messages in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
