"""The schedule editor drawer: New schedule and Edit, their live preview, and Save.

- "New schedule" and "Edit" `hx-get` these views into `<div id="drawer">` (base.html); the
  answer is a `<dialog data-modal>` that static/automation/app.js opens as a modal. Without
  JavaScript the same URLs answer a whole page with the same form.
- The form posts back to its own URL. Invalid input (the form's or the services') answers
  the form again with each message beside its field and a summary on top, input kept. A
  save answers HX-Trigger `schedule:saved` (the table refreshes) and `dialog:close`, and goes
  to the schedule's page, where its row is highlighted beside its runs.
- The preview posts the form to `schedule_preview` while the person types; it validates
  and describes the timing with `schedules.previews.timing_preview`, as the API does.
"""

from __future__ import annotations

import json

from datetime import datetime
from functools import lru_cache
from zoneinfo import available_timezones

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from audit.services import Actor
from automation import inputs_preview, selectors
from automation.editor import ScheduleForm, jitter_note, preset_buttons, preset_timing
from automation.errors import error_response, page_errors
from automation.formatting import chat_url, offset_label
from automation.limits import writes
from automation.views import schedules as schedules_view
from automation.views.common import DIALOG_CLOSE, SCHEDULE_SAVED, done, fragment_request, render_page
from automation.views.schedules import table_context
from automation.workspace import new_schedule_zone, viewer_zone, workspace_for
from config import clock
from config.errors import NotVisible
from schedules import drafts, permissions, services, timing
from schedules.models import ScheduleType
from schedules.permissions import WRITE
from schedules.previews import timing_preview
from schedules.selectors import get_schedule_for

TEMPLATE = "automation/drawer.html"
FRAGMENTS = {"drawer": "dialog", "schedule-form": "form"}
# Form fields whose errors stop the preview (they are the timing).
TIMING_FIELDS = (
    "schedule_type", "timezone", "cron_expression", "every", "every_unit", "run_at", "start_at", "end_at", "jitter_seconds",
    "calendar",
)


@lru_cache(maxsize=1)
def zone_names() -> list[str]:
    """The zones the "Time zone" field suggests: places (Area/City) and UTC."""
    skip = ("Etc/", "SystemV/", "posix/", "right/")
    return ["UTC", *sorted(n for n in available_timezones() if "/" in n and not n.startswith(skip))]


def daylight_text(note: timing.DaylightNote) -> str:
    values = {"time": note.wall.strftime("%H:%M"), "date": note.wall.strftime("%Y-%m-%d")}
    if note.kind == timing.GAP:
        if note.runs_at is None:
            return _("%(time)s does not exist on %(date)s: no run then") % values
        return _("%(time)s does not exist on %(date)s: runs at %(runs_at)s") % {
            **values, "runs_at": note.runs_at.strftime("%H:%M")
        }
    if note.also_at is not None:
        return _("%(time)s occurs twice on %(date)s: runs at both (%(first)s and %(second)s)") % {
            **values, "first": offset_label(note.runs_at), "second": offset_label(note.also_at)
        }
    return _("%(time)s occurs twice on %(date)s: runs once, at %(time)s %(offset)s") % {
        **values, "offset": offset_label(note.runs_at)
    }


def preview_context(form: ScheduleForm, *, viewer: str, now: datetime) -> dict:
    """What the preview shows for the form's timing: a description and the next 5 fire
    times in the schedule's zone and the viewer's (UTC when the viewer chose none), or
    why there is nothing to show yet."""
    if not form.is_bound:  # what the empty or stored form shows, read as if posted
        shown = {name: form[name].value() for name in (*TIMING_FIELDS, "prompt")}
        form = ScheduleForm({k: v for k, v in shown.items() if v is not None}, agents=[], schedule=form.schedule)
    form.is_valid()
    errors = [message for name in TIMING_FIELDS for message in form.errors.get(name, [])]
    if errors:
        return {"preview_problem": " ".join(errors)}
    spec = form.timing_spec()
    try:
        result = timing_preview(spec, now=now, language=get_language() or "en")
    except timing.ScheduleError as exc:
        return {"preview_problem": exc.message, "preview_error": exc}
    notes = list(result["daylight"])
    if spec.schedule_type == ScheduleType.ONCE and form.cleaned_data.get("run_at"):
        note = timing.wall_note(form.cleaned_data["run_at"], spec.timezone)
        notes += [note] if note else []
    other = viewer if viewer and viewer != spec.timezone else ("UTC" if spec.timezone != "UTC" else "")
    jitter = jitter_note(form.cleaned_data.get("jitter_seconds") or 0)
    fires = [datetime.fromisoformat(item["utc"].replace("Z", "+00:00")) for item in result["next_runs"]]
    return {
        "preview": {
            "description": result["description"],
            "zone": spec.timezone,
            "other_zone": other,
            "fires": fires,
            "notes": [daylight_text(note) for note in notes],
            "jitter": jitter,
            "calendar": inputs_preview.calendar_context(result["calendar"]),
            "next_run": inputs_preview.next_run_context(
                form.data.get("prompt", ""), fire=fires[0] if fires else None, zone=spec.timezone
            ),
        }
    }


def _save(request, form: ScheduleForm, workspace, schedule, draft=None):
    actor, now = Actor.from_request(request), clock.now()
    if draft is not None:
        saved, _created = drafts.draft_save(actor=actor, draft=draft, data=form.service_data(), now=now)
        return saved
    if schedule is None:
        return services.schedule_create(actor=actor, org=workspace.org, data=form.service_data(), now=now)
    return services.schedule_update(actor=actor, schedule=schedule, data=form.service_data(), now=now)


def params_json(source) -> str:
    """The params that will be saved (a draft's from chat, a schedule's from the API), as
    indented JSON: the editor shows them read-only, so nothing reaches the plane unseen."""
    params = getattr(source, "params", None)
    return json.dumps(params, indent=2, ensure_ascii=False, sort_keys=True) if params else ""


def draft_initial(draft) -> dict:
    """What a draft from chat fills in the editor; the person picks when."""
    return {"name": draft.name, "agent": draft.agent.slug, "prompt": draft.prompt, "output_type": draft.output_type}


def _editor(request, workspace, schedule=None, draft=None):
    """The drawer's answer, by what the request means.

    - GET opens the form: empty, the schedule's, or a draft's from chat (`_open`);
    - a preset button or "Preview" posts the form when JavaScript is off: it is shown again
      with the preset applied or the preview updated, and nothing is saved (`_reshow`);
    - any other POST saves: creates, updates, or saves the draft (`_submit`)."""
    agents = selectors.org_agents(workspace.org)
    zone = new_schedule_zone(request, workspace)
    if request.method != "POST":
        return _open(request, workspace, ScheduleForm(agents=agents, schedule=schedule, zone=zone), schedule, draft)
    data = request.POST.copy()
    if data.get("preset") or "preview" in data:
        form = ScheduleForm(_with_preset(data), agents=agents, schedule=schedule, zone=zone)
        return _reshow(request, workspace, form, schedule, draft)
    return _submit(request, workspace, ScheduleForm(data, agents=agents, schedule=schedule, zone=zone), schedule, draft)


def _with_preset(data):
    """The posted form with its preset's timing filled in (a cron and its calendar)."""
    if timing_of_preset := preset_timing(data.get("preset")):
        expression, calendar = timing_of_preset
        data.update({"cron_expression": expression, "calendar": calendar, "schedule_type": ScheduleType.CRON})
    return data


def _open(request, workspace, form: ScheduleForm, schedule, draft):
    """GET: the form to fill in, with focus on its name and the preview of what it holds."""
    if draft is not None:
        form.initial.update(draft_initial(draft))
    form.fields["name"].widget.attrs["autofocus"] = True  # where focus lands when the drawer opens
    if schedule is None and not workspace.viewer_zone:
        form.fields["timezone"].widget.attrs["data-browser-default"] = True  # app.js: this browser's zone
    preview = preview_context(form, viewer=workspace.viewer_zone, now=clock.now())
    context = _context(request, workspace, form, schedule, draft, preview=preview, show_errors=False)
    if draft is not None and not fragment_request(request):
        # From chat, the browser opens this URL itself: the table, with the drawer over it.
        context = {**table_context(request, workspace), **context, "over_table": True}
        return render_page(request, schedules_view.TEMPLATE, context)
    return render_page(request, TEMPLATE, context, fragments=FRAGMENTS)


def _reshow(request, workspace, form: ScheduleForm, schedule, draft):
    """A preset or "Preview" posted without JavaScript: the form again, no errors, nothing saved."""
    preview = preview_context(form, viewer=workspace.viewer_zone, now=clock.now())
    context = _context(request, workspace, form, schedule, draft, preview=preview, show_errors=False)
    return render_page(request, TEMPLATE, context, fragments=FRAGMENTS)


def _submit(request, workspace, form: ScheduleForm, schedule, draft):
    """Save (create, update, or the draft's schedule) and go to the schedule's page; or the
    form again with each error beside its field, input kept."""
    if form.is_valid():
        try:
            saved = _save(request, form, workspace, schedule, draft)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, _("Schedule “%(name)s” was saved.") % {"name": saved.name})
            url = reverse("automation:schedule", args=[saved.pk])
            return done(request, url, SCHEDULE_SAVED, DIALOG_CLOSE, location=url)
        preview = preview_context(form, viewer=workspace.viewer_zone, now=clock.now())
    else:
        preview = preview_context(form, viewer=workspace.viewer_zone, now=clock.now())
        if "preview_error" in preview:
            # The form stopped before the services ran: say what is wrong with the timing now,
            # in the services' words, rather than after the other fields are fixed.
            exc = preview["preview_error"]
            form.add_service_errors(ValidationError({exc.field: exc.message}))
    form.mark_invalid_fields()
    context = _context(request, workspace, form, schedule, draft, preview=preview, show_errors=True)
    # htmx swaps only 2xx answers: the form with its errors comes as 200 to it, 400 to a browser.
    status = 400 if form.errors and not request.htmx else 200
    return render_page(request, TEMPLATE, context, fragments=FRAGMENTS, status=status)


def _context(request, workspace, form: ScheduleForm, schedule, draft, *, preview: dict, show_errors: bool) -> dict:
    action = request.path + (f"?org={workspace.org.slug}" if schedule is None else "")
    if draft is not None:
        action += f"&draft={draft.pk}"
    return {
        "workspace": workspace,
        "schedule": schedule,
        "form": form,
        "show_errors": show_errors,
        "action": action,
        "presets": preset_buttons(),
        "calendars": inputs_preview.calendar_choices(),
        "draft": draft,
        "draft_chat_url": chat_url(draft.session_id, draft.message_id) if draft is not None else "",
        "params_json": params_json(draft if draft is not None else schedule),
        "zones": zone_names(),
        **preview,
    }


@require_http_methods(["GET", "POST"])
@login_required
@page_errors
@writes
def schedule_new(request):
    draft = None
    if draft_id := request.GET.get("draft"):
        try:
            draft = drafts.draft_get(user=request.user, draft_id=draft_id, now=clock.now())
        except NotVisible:
            message = _("This schedule draft from chat has expired or belongs to someone else. "
                        "Go back to the chat and choose “Make this a schedule” again.")
            return error_response(request, 404, message)
    workspace = workspace_for(request, org=draft.org if draft else None)
    if workspace.org is None:
        raise NotVisible("no org")
    permissions.check_org_perm(request.user, workspace.org, WRITE)
    if draft is not None and draft.schedule_id is not None and request.method == "GET":
        # Already saved (another tab, the back button): show that schedule, not a second editor.
        messages.info(request, _("This chat result is already a schedule."))
        return redirect("automation:schedule", draft.schedule_id)
    return _editor(request, workspace, draft=draft)


@require_http_methods(["GET", "POST"])
@login_required
@page_errors
@writes
def schedule_edit(request, pk):
    schedule = get_schedule_for(request.user, pk, WRITE)
    workspace = workspace_for(request, org=schedule.org)
    return _editor(request, workspace, schedule)


def _valid_zone(name: str) -> str:
    """`name` when it is a zone (the heading names it even while the timing is incomplete), else ""."""
    try:
        return timing.validate_timezone(name.strip()).key
    except timing.ScheduleError:
        return ""


@require_POST
@login_required
def schedule_preview(request):
    """The preview fragment for the posted form (needs no permission: it stores nothing)."""
    form = ScheduleForm(request.POST, agents=[])
    context = preview_context(form, viewer=viewer_zone(request.user), now=clock.now())
    # The heading above the preview names the zone: the answer updates it too (out of band).
    context.update(preview_oob=True, heading_zone=_valid_zone(request.POST.get("timezone", "")))
    return render_page(request, f"{TEMPLATE}#preview", context)
