"""Domain errors: what services and selectors raise, whoever called them.

Services know nothing of HTTP. They raise one of these, and each front end maps them once:
the API in `config/api/errors.py` (404, 403, 409), the pages in their own error handling,
management commands by printing the message.

Invalid input is Django's own `ValidationError` with a {field: message} dict: forms and the
admin already show it beside each field, and the API maps it to a 400 naming the fields.
`InvalidInput` is the one-field form a lower layer raises (the timing functions'
`ScheduleError`): still a Django ValidationError, so form and serializer field validators
show it beside their field as is, and the API maps it to a 400 naming `field`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base class; `message` is a sentence a person can act on.

    Services write the message with `gettext`, so it is in the language of the request that
    asked (the page's language; the API's is English unless the request asks for another, as
    with DRF's own messages). Code that stores a message in a row (the scheduler's run errors)
    runs in English: stored rows are data, read later by anyone in any language.
    """

    default_message = _("this cannot be done")

    def __init__(self, message: str | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)


class NotVisible(DomainError):
    """The object does not exist, or the caller may not see it (its existence is not revealed)."""

    default_message = _("not found")


class MissingPermission(DomainError):
    """The caller sees the object but lacks `permission` on it (e.g. 'schedules:write')."""

    def __init__(self, permission: str):
        self.permission = permission
        super().__init__(gettext("missing permission %(permission)s") % {"permission": permission})


class InvalidState(DomainError):
    """The request is well-formed, but the object's state does not allow it (e.g. retrying a
    run that succeeded, running a schedule whose agent is disabled)."""

    default_message = _("the object's state does not allow this")


class RateLimited(DomainError):
    """Too many of these, too fast: a throttle of `config/api/throttling.py` said no.
    `wait` is the seconds until one more is allowed (a Retry-After)."""

    default_message = _("too many requests")

    def __init__(self, wait: float | None = None):
        self.wait = wait
        super().__init__()


class InvalidInput(ValidationError):
    """One input field's value is wrong: `message` says what to change, `field` where."""

    def __init__(self, field: str, message: str):
        super().__init__(message, code="invalid")
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        # Exceptions pickle as cls(*args); ValidationError's args are not this __init__'s.
        return self.__class__, (self.field, self.message)
