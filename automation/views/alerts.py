"""The alerts page (/automation/alerts/): open and resolved alerts, paused schedules with
"Resume", the org's channels (admins edit), and "Send test alert".

Thin, as the other pages: the workspace says who looks at which org, the runs app's alert
services write, `page_errors` answers their domain errors.
"""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib.auth.decorators import login_required
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor
from automation.errors import page_errors
from automation.rows import schedule_row
from automation.views.common import done, render_page
from automation.workspace import workspace_for
from config import clock
from config.errors import MissingPermission, NotVisible
from runs.alerts import channels as channel_services
from runs.alerts.services import alert_send_test
from runs.models import Alert, AlertChannel, AlertState, ChannelKind
from schedules.models import Schedule
from schedules.permissions import READ

TEMPLATE = "automation/alerts.html"
RESOLVED_SHOWN = 20


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


def _context(request, workspace, *, form=None, edit_forms=None, results=None) -> dict:
    context = {"workspace": workspace, "now": clock.now(), "results": results}
    org = workspace.org
    if org is None:
        return context
    manage = channel_services.can_manage(workspace.grants, org)
    alerts = Alert.objects.filter(org=org).select_related("schedule").order_by("-opened_at")
    paused = [
        schedule_row(schedule, workspace)
        for schedule in Schedule.objects.filter(org=org, enabled=False).exclude(paused_reason="").order_by("name")
    ]
    channels = list(AlertChannel.objects.filter(org=org))
    for channel in channels:
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
def alert_test(request):
    """Send a test alert through every channel now and show each outcome."""
    workspace = _managing(request)
    attempts = alert_send_test(org=workspace.org, now=clock.now())
    results = [(attempt.delivery.channel, attempt) for attempt in attempts]
    return render_page(request, TEMPLATE, _context(request, workspace, results=results))


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
def channel_add(request):
    workspace = _managing(request)
    form = ChannelForm(request.POST, prefix="new")
    write = partial(channel_services.channel_create, org=workspace.org)
    return _save(request, workspace, form, write, context={"form": form})


@require_POST
@login_required
@page_errors
def channel_edit(request, pk):
    workspace = _managing(request)
    channel = _channel(workspace, pk)
    form = ChannelForm(request.POST, prefix=f"c{channel.pk}")
    write = partial(channel_services.channel_update, channel=channel)
    return _save(request, workspace, form, write, context={"edit_forms": {channel.pk: form}})


@require_POST
@login_required
@page_errors
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
