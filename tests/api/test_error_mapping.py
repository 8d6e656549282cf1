"""Domain errors become the one error shape in one place: the API's exception handler."""

from __future__ import annotations

from config.api.errors import exception_handler
from schedules import timing


def test_a_timing_error_is_a_400_naming_its_field():
    # Raised anywhere under a view (a service, a preview), no view translates it by hand.
    response = exception_handler(timing.ScheduleError("timezone", "unknown time zone 'Mars/Base'"), {})
    assert response.status_code == 400
    assert response.data == {
        "code": "invalid",
        "detail": "timezone: unknown time zone 'Mars/Base'",
        "errors": {"timezone": ["unknown time zone 'Mars/Base'"]},
    }
