"""Daylight-saving notes of the timing preview: what a person is told about the days when a
named local time does not exist or occurs twice, and that it matches what actually fires."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from schedules import timing
from schedules.timing import GAP, REPEAT, DaylightNote, Spec
from tests.constants import UTC

NEW_YORK = ZoneInfo("America/New_York")
RIGA = ZoneInfo("Europe/Riga")


def cron(expression: str, zone: str = "America/New_York") -> Spec:
    return Spec(schedule_type="cron", timezone=zone, cron_expression=expression)


def test_a_fixed_time_in_the_spring_gap_runs_at_the_end_of_the_gap():
    spec = cron("30 2 * * *")
    after = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    assert timing.daylight_notes(spec, after) == [
        DaylightNote(GAP, datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK))
    ]
    # What the note says is what fires.
    assert timing.next_fire(spec, after) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_a_wildcard_hour_in_the_spring_gap_is_skipped():
    spec = cron("30 */2 * * *")
    after = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert timing.daylight_notes(spec, after) == [DaylightNote(GAP, datetime(2026, 3, 8, 2, 30), None)]
    fires = [f.astimezone(NEW_YORK).strftime("%H:%M") for f in timing.next_fires(spec, after, 3)]
    assert fires == ["00:30", "04:30", "06:30"]


def test_a_fixed_time_in_the_repeated_autumn_hour_runs_once_at_the_first():
    spec = cron("30 1 * * *")
    (note,) = timing.daylight_notes(spec, datetime(2026, 10, 31, 12, 0, tzinfo=UTC))
    assert (note.kind, note.wall, note.also_at) == (REPEAT, datetime(2026, 11, 1, 1, 30), None)
    assert note.runs_at.utcoffset().total_seconds() == -4 * 3600  # EDT, the first pass


def test_an_hourly_schedule_runs_at_both_passes_of_the_repeated_hour():
    (note,) = timing.daylight_notes(cron("0 * * * *"), datetime(2026, 11, 1, 4, 30, tzinfo=UTC))
    assert (note.kind, note.wall) == (REPEAT, datetime(2026, 11, 1, 1, 0))
    assert note.runs_at.isoformat() == "2026-11-01T01:00:00-04:00"
    assert note.also_at.isoformat() == "2026-11-01T01:00:00-05:00"


def test_riga_in_autumn_repeats_03_00_to_03_59():
    (note,) = timing.daylight_notes(cron("30 3 * * *", "Europe/Riga"), datetime(2026, 10, 24, 12, 0, tzinfo=UTC))
    assert (note.kind, note.wall) == (REPEAT, datetime(2026, 10, 25, 3, 30))
    assert note.runs_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC).astimezone(RIGA)


def test_no_note_away_from_a_change_in_utc_or_for_intervals():
    assert timing.daylight_notes(cron("30 2 * * *"), datetime(2026, 6, 1, tzinfo=UTC)) == []
    assert timing.daylight_notes(cron("30 2 * * *", "UTC"), datetime(2026, 3, 7, tzinfo=UTC)) == []
    # 03:00 exists on the day of the change: nothing to say.
    assert timing.daylight_notes(cron("0 3 * * *"), datetime(2026, 3, 7, 12, 0, tzinfo=UTC)) == []
    interval = Spec(schedule_type="interval", timezone="America/New_York", interval_seconds=3600)
    assert timing.daylight_notes(interval, datetime(2026, 3, 8, 5, 0, tzinfo=UTC)) == []


def test_a_typed_local_time_in_a_gap_or_a_repeat_is_explained():
    assert timing.wall_note(datetime(2026, 3, 8, 2, 30), "America/New_York") == DaylightNote(
        GAP, datetime(2026, 3, 8, 2, 30), datetime(2026, 3, 8, 3, 0, tzinfo=NEW_YORK)
    )
    note = timing.wall_note(datetime(2026, 11, 1, 1, 30), "America/New_York")
    assert (note.kind, note.runs_at.isoformat()) == (REPEAT, "2026-11-01T01:30:00-04:00")
    assert timing.wall_note(datetime(2026, 11, 1, 3, 30), "America/New_York") is None
    assert timing.wall_note(datetime(2026, 3, 8, 2, 30), "UTC") is None
