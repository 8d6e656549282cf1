"""schedules.timing validation: every message a person may see, compared whole, and the
valid expressions and bounds that must be accepted."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import pytest

from django.utils import translation

from schedules import timing
from schedules.timing import ScheduleError, Spec
from tests.constants import T0
from tests.schedules.test_timing import cron, z

SHAPE = "expected 5 fields (minute hour day-of-month month day-of-week)"
CRON_ERRORS = [
    ("0 25 * * *", "hour 25 is out of range 0-23"),
    ("60 * * * *", "minute 60 is out of range 0-59"),
    ("0 9 32 * *", "day-of-month 32 is out of range 1-31"),
    ("0 9 0 * *", "day-of-month 0 is out of range 1-31"),
    ("0 9 * 13 *", "month 13 is out of range 1-12"),
    ("0 9 * 0 *", "month 0 is out of range 1-12"),
    ("0 9 * * 8", "day-of-week 8 is out of range 0-7"),
    ("9 * * 1-5", f"{SHAPE}, got 4"),
    ("", f"cron expression is empty: {SHAPE}"),
    ("0 0 9 * * *", "seconds are not supported: use 5 fields (minute hour day-of-month month day-of-week)"),
    ("1 2 3 4 5 6 7", f"{SHAPE}, got 7"),
    ("@every 5m", "unknown macro '@every': use @hourly, @daily, @weekly, @monthly or @yearly"),
    ("@reboot", "unknown macro '@reboot': use @hourly, @daily, @weekly, @monthly or @yearly"),
    ("@daily 9", "@daily stands alone: remove '9' or write the 5 fields instead"),
    ("0 9 * * 5L", "'L' is only allowed in the day-of-month field"),
    ("0 L * * *", "'L' is only allowed in the day-of-month field"),
    ("0 9 L-2 * *", "'L' must stand alone in the day-of-month field, as in 'L' or '15,L': got 'L-2'"),
    ("0 9 * foo *", "month 'foo' is not a valid value (use 1-12 or JAN-DEC)"),
    ("0 9 * * Funday", "day-of-week 'Funday' is not a valid value (use 0-7 or SUN-SAT)"),
    ("0 9 1-2-3 * *", "day-of-month '1-2-3' is not a valid range (use 1-31 or L)"),
    ("0 9 5- * *", "day-of-month '5-' is not a valid range (use 1-31 or L)"),
    ("0 0 30 2 *", "never fires: February has no 30th"),
    ("0 0 30,31 2 *", "never fires: February has no 30th or 31st"),
    ("0 0 31 4,6,9,11 *", "never fires: April, June, September and November have no 31st"),
    ("0 9 * * 5-0", "day-of-week range 5-0 is backwards: the start must not be after the end "
                    "(Sunday can be written as 7: '5-7')"),
    ("0 9 * * FRI-SUN", "day-of-week range FRI-SUN is backwards: the start must not be after the end "
                        "(Sunday can be written as 7: 'FRI-7')"),
    ("0 9 * * FRI-MON", "day-of-week range FRI-MON is backwards: the start must not be after the end"),
    ("0 9 * NOV-FEB *", "month range NOV-FEB is backwards: the start must not be after the end"),
    ("*/60 * * * *", "minute step 60 is out of range 1-59"),
    ("*/0 * * * *", "minute step 0 is out of range 1-59"),
    ("0 */24 * * *", "hour step 24 is out of range 1-23"),
    ("0 0 */31 * *", "day-of-month step 31 is out of range 1-30"),
    ("0 0 * */12 *", "month step 12 is out of range 1-11"),
    ("0 0 * * */7", "day-of-week step 7 is out of range 1-6"),
    ("*/x * * * *", "minute step 'x' in '*/x' is not a number"),
    ("0 9 15W * *", "'W' (nearest weekday) is not supported: '15W'"),
    ("0 9 * * MON#2", "'#' (nth weekday of the month) is not supported: 'MON#2'"),
    ("0 9 ? * *", "'?' is not supported: use '*'"),
    ("0 9 1,,2 * *", "day-of-month field '1,,2' has an empty list item"),
]


@pytest.mark.parametrize(("expr", "message"), CRON_ERRORS, ids=[e or "empty" for e, _ in CRON_ERRORS])
def test_cron_validation_messages(expr, message):
    with pytest.raises(ScheduleError) as err:
        timing.validate_cron(expr)
    assert (err.value.field, err.value.message, str(err.value)) == ("cron_expression", message, message)


@pytest.mark.parametrize(
    ("expr", "normalised"),
    [("  0   9 * *\t1-5 ", "0 9 * * 1-5"), ("@DAILY", "@daily"), ("0 0 29 2 *", "0 0 29 2 *"),
     ("0 9 L * *", "0 9 L * *"), ("*/5 9-17 * JAN-MAR mon-fri", "*/5 9-17 * JAN-MAR mon-fri")],
)
def test_validate_cron_normalises_whitespace(expr, normalised):
    assert timing.validate_cron(expr) == normalised


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Asia/Shangai", "unknown time zone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?"),
        ("asia/shanghai", "unknown time zone 'asia/shanghai'; did you mean 'Asia/Shanghai'?"),
        ("New York", "unknown time zone 'New York'; did you mean 'America/New_York'?"),
        ("Mars/Base", "unknown time zone 'Mars/Base': use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
        ("", "time zone is required: use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
        ("../../etc/passwd",
         "unknown time zone '../../etc/passwd': use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
    ],
)
def test_timezone_validation_messages(name, message):
    with pytest.raises(ScheduleError) as err:
        timing.validate_timezone(name)
    assert (err.value.field, str(err.value)) == ("timezone", message)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("localtime", "time zone 'localtime' is not a place, and its meaning depends on the server: "
                      "use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
        ("Factory", "time zone 'Factory' is not a place, and its meaning depends on the server: "
                    "use an IANA name such as 'Asia/Shanghai' or 'UTC'"),
        ("GMT+8", "unknown time zone 'GMT+8'; did you mean 'Etc/GMT-8' (UTC+08:00 all year; Etc/GMT names "
                  "invert the sign) or a city's zone such as 'Asia/Shanghai'?"),
        ("UTC-05:00", "unknown time zone 'UTC-05:00'; did you mean 'Etc/GMT+5' (UTC-05:00 all year; Etc/GMT names "
                      "invert the sign) or a city's zone such as 'America/New_York'?"),
        ("UTC+5:30", "unknown time zone 'UTC+5:30'; did you mean a city's zone such as 'Asia/Kolkata' (UTC+05:30)?"),
        ("UTC+00:00", "unknown time zone 'UTC+00:00'; did you mean 'UTC'?"),
        ("GMT+15", "unknown time zone 'GMT+15': use a city's zone such as 'Asia/Shanghai' rather than an offset"),
    ],
    ids=lambda value: value if len(value) < 12 else "",
)
def test_server_dependent_and_offset_zone_names_are_refused_with_a_fitting_hint(name, message):
    with pytest.raises(ScheduleError) as err:
        timing.validate_timezone(name)
    assert (err.value.field, err.value.message) == ("timezone", message)


@pytest.mark.parametrize("name", ["Etc/GMT-8", "GMT+0", "GMT", "Etc/UTC", "US/Eastern"])
def test_real_zone_names_that_look_odd_are_accepted(name):
    assert timing.validate_timezone(name).key == name


def test_validate_timezone_returns_the_zone():
    assert timing.validate_timezone("Asia/Shanghai").key == "Asia/Shanghai"


NOW = z("2026-12-01T00:00:00Z")

SPEC_ERRORS = [
    (Spec(schedule_type="hourly"), "schedule_type", "schedule type 'hourly' is not one of cron, interval, once"),
    (Spec(schedule_type="cron", timezone="Asia/Shangai", cron_expression="0 9 * * *"), "timezone",
     "unknown time zone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?"),
    (Spec(schedule_type="cron"), "cron_expression", "a cron schedule needs a cron expression, e.g. '0 9 * * 1-5'"),
    (Spec(schedule_type="cron", cron_expression="0 25 * * *"), "cron_expression", "hour 25 is out of range 0-23"),
    (Spec(schedule_type="interval"), "interval_seconds", "an interval schedule needs interval_seconds"),
    (Spec(schedule_type="interval", interval_seconds=59), "interval_seconds", "interval must be at least 60 seconds"),
    (Spec(schedule_type="interval", interval_seconds=367 * 86400), "interval_seconds",
     "interval must be at most 31622400 seconds (366 days)"),
    (Spec(schedule_type="interval", interval_seconds=True), "interval_seconds",
     "interval must be a whole number of seconds"),
    (Spec(schedule_type="once"), "run_at", "a one-time schedule needs run_at"),
    (Spec(schedule_type="once", run_at=z("2026-01-01T00:00:00Z")), "run_at",
     "run_at 2026-01-01T00:00:00Z is in the past"),
    (Spec(schedule_type="once", run_at=NOW), "run_at", "run_at 2026-12-01T00:00:00Z is in the past"),
    (Spec(schedule_type="once", run_at=datetime(2027, 1, 1)), "run_at",
     "run_at must be a date and time with a time zone offset"),
    (Spec(schedule_type="once", run_at=z("2027-01-02T00:00:00Z"), end_at=z("2027-01-01T00:00:00Z")), "run_at",
     "run_at 2027-01-02T00:00:00Z is after end_at 2027-01-01T00:00:00Z, so it would never run"),
    (Spec(schedule_type="once", run_at=z("2027-01-01T00:00:00Z"), start_at=z("2027-01-02T00:00:00Z")), "run_at",
     "run_at 2027-01-01T00:00:00Z is before start_at 2027-01-02T00:00:00Z, so it would never run"),
    (Spec(schedule_type="cron", cron_expression="0 9 * * *", start_at=z("2027-01-02T00:00:00Z"),
          end_at=z("2027-01-01T00:00:00Z")), "end_at",
     "end_at 2027-01-01T00:00:00Z must be after start_at 2027-01-02T00:00:00Z"),
    (Spec(schedule_type="interval", interval_seconds=3600, start_at=z("2027-01-01T00:00:00Z"),
          end_at=z("2027-01-01T00:00:00Z")), "end_at",
     "end_at 2027-01-01T00:00:00Z must be after start_at 2027-01-01T00:00:00Z"),
]


@pytest.mark.parametrize(("spec", "field", "message"), SPEC_ERRORS)
def test_spec_validation_messages(spec, field, message):
    with pytest.raises(ScheduleError) as err:
        timing.validate_spec(spec, now=NOW)
    assert (err.value.field, err.value.message) == (field, message)


def test_interval_bounds_are_arguments():
    spec = Spec(schedule_type="interval", interval_seconds=30)
    timing.validate_spec(spec, now=NOW, min_interval=10)
    with pytest.raises(ScheduleError, match="at most 20 seconds"):
        timing.validate_spec(spec, now=NOW, min_interval=10, max_interval=20)


@pytest.mark.parametrize(
    "spec",
    [
        Spec(schedule_type="cron", timezone="Asia/Shanghai", cron_expression="0 9 * * 1-5"),
        Spec(schedule_type="interval", interval_seconds=900),
        Spec(schedule_type="interval", interval_seconds=60),  # exactly the minimum
        Spec(schedule_type="interval", interval_seconds=366 * 86400),  # exactly the maximum
        Spec(schedule_type="once", run_at=z("2026-12-02T00:00:00Z")),
        Spec(schedule_type="once", run_at=NOW + timedelta(microseconds=1)),
        Spec(schedule_type="once", run_at=z("2027-01-01T00:00:00Z"), start_at=z("2027-01-01T00:00:00Z"),
             end_at=z("2027-01-01T00:00:00Z") + timedelta(seconds=1)),
    ],
)
def test_valid_specs_pass(spec):
    timing.validate_spec(spec, now=NOW)


VALID_CRONS = [
    "*/1 * * * *",
    "* */1 */1 */1 */1",
    "*/59 */23 */30 */11 */6",  # the largest steps that still give two values
    "59 23 31 12 7",  # each field's largest value
    "0 0 1 1 0",  # and smallest
    "0-59 0-23 1-31 1-12 0-7",
    "0-59/59 0-23/23 1-31/30 1-12/11 0-7/6",
    "59/1 23/1 31/1 12/1 7/1",
    "0 9 * JAN-DEC SUN-SAT",
    "0 9 * jan,Feb mon-FRI",
    "0 0 29 2 *",
    "0 0 31 1,2 *",  # the 31st of January, never of February
    "0 0 30 2 MON",  # day-of-month or day-of-week: every Monday in February
    "0 9 L * *",
    "0 9 15,L 2 *",
    "@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually",
]


@pytest.mark.parametrize("expr", VALID_CRONS)
def test_valid_cron_expressions_are_accepted(expr):
    assert timing.validate_cron(expr) == expr
    assert timing.next_fire(cron(expr), NOW) is not None


def test_schedule_error_is_a_value_error_that_survives_pickling():
    err = ScheduleError("timezone", "unknown time zone 'X'")
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.field, copy.message, str(copy)) == ("timezone", "unknown time zone 'X'", "unknown time zone 'X'")


@pytest.mark.parametrize(
    "check, message",
    [
        (lambda: timing.validate_spec(cron("0 25 * * *"), now=T0), "小时 25 超出范围 0-23"),
        (lambda: timing.validate_spec(cron("0 0 31 2,4,6 *"), now=T0), "永远不会触发：二月、四月和六月没有31日"),
        (lambda: timing.validate_spec(cron("* * * * 5-0"), now=T0), "星期范围 5-0 首尾颠倒：开始不能晚于结束（星期日可写作 7：'5-7'）"),
        (lambda: timing.validate_timezone("Shanghai"), "未知的时区 'Shanghai'；您是指 'Asia/Shanghai' 吗？"),
        (lambda: timing.validate_spec(Spec("interval", interval_seconds=400 * 86400), now=T0),
         "间隔最多为 31622400 秒（366 天）"),
    ],
)
def test_messages_follow_the_active_language(check, message):
    with translation.override("zh-hans"), pytest.raises(ScheduleError) as caught:
        check()
    assert caught.value.message == message
    with pytest.raises(ScheduleError) as caught:
        check()  # the language of the page that asked is not kept
    assert caught.value.message.isascii()
