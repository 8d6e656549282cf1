"""The pages' one date-time field: the editor keeps the wall time, the filters read it in a zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.exceptions import ValidationError

from automation.datetimes import LocalDateTimeField, read_local, wall_text


def test_without_a_zone_the_wall_time_is_kept_for_the_services():
    assert LocalDateTimeField().clean("2026-12-01T09:00") == datetime(2026, 12, 1, 9, 0)


def test_with_a_zone_it_is_read_there_and_an_offset_is_taken_as_given():
    field = LocalDateTimeField(zone="Asia/Shanghai")
    assert field.clean("2026-12-01T09:00") == datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc)
    assert field.clean("2026-12-01T09:00+00:00") == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("value", "message"), [
    ("soon", "Enter a date and time, e.g. 2026-12-01T09:00."),
    ("9999-12-31T23:59", "Enter a year between 1970 and 2999."),
])
def test_a_bad_value_says_what_to_enter(value, message):
    with pytest.raises(ValidationError) as caught:
        read_local(value, "UTC", "from")
    assert caught.value.message_dict == {"from": [message]}


def test_a_stored_instant_is_written_back_as_the_input_shows_it():
    instant = datetime(2026, 12, 1, 1, 0, 30, tzinfo=timezone.utc)
    assert wall_text(instant, "Asia/Shanghai") == "2026-12-01T09:00:30"
    assert wall_text(instant - timedelta(seconds=30), "Asia/Shanghai") == "2026-12-01T09:00"
