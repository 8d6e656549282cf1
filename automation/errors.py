"""Domain errors as pages, mapped once (as `config/api/errors.py` maps them for the API).

Every page view is wrapped in `page_errors`: a service or selector raises
NotVisible -> 404, MissingPermission -> 403 naming the permission, InvalidState -> 409,
RateLimited -> 429 (with Retry-After), and Django's ValidationError -> 400, each rendered as a readable message. An HTMX request gets the
message alone (`automation/error.html#message`), which `static/automation/app.js` shows in
the page's role="alert" region; a plain request gets a whole page with a way back.
"""

from __future__ import annotations

import math
from functools import wraps

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from config.errors import InvalidState, MissingPermission, NotVisible, RateLimited
from schedules.permissions import DELETE, READ, RUN, WRITE


def permission_words(permission: str) -> str:
    words = {
        READ: _("see schedules"),
        WRITE: _("create and change schedules"),
        RUN: _("run schedules"),
        DELETE: _("delete schedules"),
        "alerts:manage": _("manage alert channels and send test alerts"),
    }
    return words.get(permission, permission)


def validation_text(exc: ValidationError) -> str:
    # The messages name what is wrong ("agent 'echo' is disabled"); a form shows each beside
    # its field, so here they stand alone.
    return "; ".join(exc.messages)


def error_response(request, status: int, message: str, *, title: str | None = None):
    titles = {
        400: _("This cannot be saved"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("This cannot be done now"),
        429: _("Too many requests"),
    }
    template = "automation/error.html"
    if getattr(request, "htmx", False):
        template += "#message"
    context = {"status": status, "title": title or titles.get(status, _("Something went wrong")), "message": message}
    return render(request, template, context, status=status)


def page_errors(view):
    """Answer domain errors and invalid input with a readable page or message."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotVisible:
            return error_response(request, 404, _("This schedule or run does not exist, or you cannot see it."))
        except MissingPermission as exc:
            message = _(
                "You need the permission %(permission)s (%(words)s) to do this. "
                "Ask an admin of the organization to grant it."
            ) % {"permission": exc.permission, "words": permission_words(exc.permission)}
            return error_response(request, 403, message)
        except RateLimited as exc:
            seconds = max(1, math.ceil(exc.wait or 1))
            message = ngettext(
                "You did this too often. Try again in %(seconds)d second.",
                "You did this too often. Try again in %(seconds)d seconds.",
                seconds,
            ) % {"seconds": seconds}
            response = error_response(request, 429, message)
            response["Retry-After"] = str(seconds)
            return response
        except InvalidState as exc:
            return error_response(request, 409, _("This cannot be done now: %(reason)s.") % {"reason": exc.message})
        except ValidationError as exc:
            return error_response(request, 400, _("This cannot be saved: %(reason)s.") % {"reason": validation_text(exc)})

    return wrapper
