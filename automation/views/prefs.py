"""The viewer's preferences: the time zone the pages show times in (remembered per person)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from automation.errors import error_response
from automation.models import ViewerPreference
from automation.views.common import safe_next
from django.utils.translation import gettext as _
from schedules import timing


@require_POST
@login_required
def viewer_zone(request):
    """Store the viewer time zone ("" = each schedule's own) and go back to the page."""
    zone = request.POST.get("timezone", "").strip()
    if zone:
        try:
            timing.validate_timezone(zone)
        except timing.ScheduleError as exc:
            return error_response(request, 400, _("This time zone cannot be used: %(reason)s.") % {"reason": exc.message})
    ViewerPreference.objects.update_or_create(user=request.user, defaults={"timezone": zone})
    return redirect(safe_next(request, reverse("automation:schedules")))
