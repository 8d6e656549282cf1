"""The schedule editor drawer: a placeholder the editor (issue 9, item 3) replaces.

Contract with the rest of the pages:
- "New schedule" and "Edit" buttons `hx-get` these views into `<div id="drawer">` (base.html);
  without JavaScript they are plain links to the same URLs, which answer a whole page.
- The answer holds a `<dialog data-modal>`: static/automation/app.js opens it as a modal,
  returns focus to the button that opened it when it closes, and closes it on the
  `dialog:close` event; a `[data-dialog-close]` button closes it.
- After a save, answer with HX-Trigger `schedule:saved` (the table refreshes itself) and
  `dialog:close` (`automation.views.common.done` does both).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from automation.errors import page_errors
from automation.views.common import render_page
from automation.workspace import workspace_for
from config.errors import MissingPermission, NotVisible
from schedules import permissions
from schedules.permissions import WRITE

TEMPLATE = "automation/drawer.html"


@require_GET
@login_required
@page_errors
def schedule_new(request):
    workspace = workspace_for(request)
    if workspace.org is None:
        raise NotVisible("no org")
    if not workspace.org_can(WRITE):
        raise MissingPermission(WRITE)
    context = {"workspace": workspace, "schedule": None}
    return render_page(request, TEMPLATE, context, fragments={"drawer": "dialog"})


@require_GET
@login_required
@page_errors
def schedule_edit(request, pk):
    schedule = permissions.get_schedule_for(request.user, pk, WRITE)
    workspace = workspace_for(request, org=schedule.org)
    context = {"workspace": workspace, "schedule": schedule}
    return render_page(request, TEMPLATE, context, fragments={"drawer": "dialog"})
