"""Cron expressions: parsing with readable errors, and the next match in local time.

The grammar is standard 5-field cron (Debian's crontab(5)): numbers, names (JAN-DEC,
SUN-SAT), `*`, ranges, steps, lists; plus `L` (last day of the month) in the
day-of-month field and the @hourly/@daily/@weekly/@monthly/@yearly macros. When the
day-of-month and day-of-week fields are both restricted a day matches either; when
either starts with `*` a day must match both (crontab(5); cronsim does the same).

Matching is done by croniter on naive local wall-clock datetimes. We hand croniter an
expression we wrote ourselves (plain value lists), so its own parsing quirks ("JAN-JAN"
meaning every month, `*/2` day-of-month switching to OR) never apply.
"""

from __future__ import annotations

import calendar
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from croniter import CroniterBadDateError, croniter
from django.utils.dates import MONTHS
from django.utils.translation import gettext, gettext_lazy, ngettext, pgettext

from .types import ScheduleError

FIELD = "cron_expression"
MINUTE, HOUR, DOM, MONTH, DOW = range(5)
# Error messages are in the active language (the pages' language; English for the API by
# default and for the scheduler, whose messages are stored). `gettext`, not `_`: this module
# uses `_` for discarded values.
FIELD_NAMES = (
    gettext_lazy("minute"), gettext_lazy("hour"), gettext_lazy("day-of-month"), gettext_lazy("month"),
    gettext_lazy("day-of-week"),
)
_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
# Largest step that still yields more than one value; `*/60` is minute 0 only and almost
# always means "every 60 minutes", which cron cannot say (an interval schedule can).
_MAX_STEP = (59, 23, 30, 11, 6)
_MONTHS = {name: i for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_DAYS = {name: i for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_NAMES = ({}, {}, {}, _MONTHS, _DAYS)
_HINTS = (
    gettext_lazy("use 0-59"), gettext_lazy("use 0-23"), gettext_lazy("use 1-31 or L"),
    gettext_lazy("use 1-12 or JAN-DEC"), gettext_lazy("use 0-7 or SUN-SAT"),
)
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MAX_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_NAIVE_EPOCH = datetime(2000, 1, 1)
# Quartz/croniter dialect tokens, recognised only to name them in the error.
_L_SYNTAX = re.compile(r"^(\d*L\d*)$")
_W_SYNTAX = re.compile(r"^(\d+W|W\d+|LW)$")


@dataclass(frozen=True)
class CronExpr:
    expression: str  # normalised, as written (macros lower-cased)
    five_fields: str  # macros expanded
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    last_day: bool
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_and: bool
    # Minute or hour field starting with `*` (`*/15 1 * * *`, `0 * * * *`): every real
    # occurrence fires, none in a gap (Vixie cron's "wildcard" jobs, whose test in
    # `find_jobs` Debian keeps). Otherwise the expression names fixed wall-clock times:
    # a repeated time fires once, a skipped one at the end of the gap.
    wildcard: bool
    # What croniter is given: one expression, or two whose union is ours (see below).
    croniter_exprs: tuple[str, ...]
    croniter_day_or: bool

    @property
    def fires_per_day(self) -> int:
        """Fires on a matching day that has no offset change."""
        return len(self.minutes) * len(self.hours)

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days or (self.last_day and day.day == calendar.monthrange(day.year, day.month)[1])
        dow = day.isoweekday() % 7 in self.weekdays
        return (dom and dow) if self.day_and else (dom or dow)


class NaiveMatcher:
    """Reused croniter objects: building one costs ~80 us, a lookup ~20 us.

    Answers are memoised by minute: the scheduler asks the same expression about the
    same minute for every schedule that shares it.
    """

    # Small: one entry per minute asked about recently; bounded memory per expression.
    _MEMO_SIZE = 64

    def __init__(self, expr: CronExpr) -> None:
        self._iters = [croniter(text, _NAIVE_EPOCH, day_or=expr.croniter_day_or) for text in expr.croniter_exprs]
        self._memo: dict[datetime, datetime | None] = {}
        # croniter keeps the start time on the object; the lock keeps threads from
        # reading each other's.
        self._lock = threading.Lock()

    def next_after(self, wall: datetime) -> datetime | None:
        """The first matching naive wall-clock minute strictly after `wall`."""
        # Matches are whole minutes, so every `wall` within one minute has the same answer.
        minute = wall.replace(second=0, microsecond=0, fold=0)
        with self._lock:
            try:
                return self._memo[minute]
            except KeyError:
                pass
            found = None
            for it in self._iters:
                try:
                    match = it.get_next(datetime, start_time=minute)
                except (CroniterBadDateError, OverflowError, ValueError):
                    # No match within croniter's 50-year horizon, or past datetime.max.
                    continue
                if found is None or match < found:
                    found = match
            if len(self._memo) >= self._MEMO_SIZE:
                self._memo.clear()
            self._memo[minute] = found
            return found


def _fail(message: str, **values) -> ScheduleError:
    return ScheduleError(FIELD, message % values if values else message)


def _about(i: int, message: str, **values) -> ScheduleError:
    """A message about field `i`, named in the active language."""
    return _fail(message, field=FIELD_NAMES[i], **values)


def _check_token(i: int, token: str, item: str) -> None:
    """Reject the syntax of other cron dialects with a message naming it."""
    upper = token.upper()
    if upper in _NAMES[i]:
        return
    if "#" in upper:
        raise _fail(gettext("'#' (nth weekday of the month) is not supported: '%(item)s'"), item=item)
    if "?" in upper:
        raise _fail(gettext("'?' is not supported: use '*'"))
    if _W_SYNTAX.match(upper):
        raise _fail(gettext("'W' (nearest weekday) is not supported: '%(item)s'"), item=item)
    if _L_SYNTAX.match(upper):
        if i != DOM:
            raise _fail(gettext("'L' is only allowed in the day-of-month field"))
        raise _fail(
            gettext("'L' must stand alone in the day-of-month field, as in 'L' or '15,L': got '%(item)s'"), item=item
        )


def _value(i: int, token: str, item: str) -> int:
    _check_token(i, token, item)
    lo, hi = _BOUNDS[i]
    if token.isascii() and token.isdigit():
        value = int(token)
        if not lo <= value <= hi:
            raise _about(
                i, gettext("%(field)s %(value)s is out of range %(low)s-%(high)s"), value=value, low=lo, high=hi
            )
        return value
    names = _NAMES[i]
    if token.upper() in names:
        return names[token.upper()]
    shown = token if token else item
    raise _about(i, gettext("%(field)s '%(value)s' is not a valid value (%(hint)s)"), value=shown, hint=_HINTS[i])


def _range(i: int, text: str, item: str) -> tuple[int, int]:
    start_text, _, end_text = text.partition("-")
    if not start_text or not end_text or "-" in end_text:
        raise _about(i, gettext("%(field)s '%(item)s' is not a valid range (%(hint)s)"), item=item, hint=_HINTS[i])
    start, end = _value(i, start_text, item), _value(i, end_text, item)
    if start > end:
        # "5-0" most likely means Friday to Sunday; other backwards ranges have no one reading.
        if i == DOW and end == 0:
            raise _about(
                i,
                gettext(
                    "%(field)s range %(range)s is backwards: the start must not be after the end "
                    "(Sunday can be written as 7: '%(start)s-7')"
                ),
                range=text,
                start=start_text,
            )
        raise _about(
            i, gettext("%(field)s range %(range)s is backwards: the start must not be after the end"), range=text
        )
    return start, end


def _parse_field(i: int, text: str) -> tuple[frozenset[int], bool]:
    """The values a field allows (day-of-week 7 folded to 0), and whether it has `L`."""
    lo, hi = _BOUNDS[i]
    values: set[int] = set()
    last = False
    for item in text.split(","):
        if not item:
            raise _about(i, gettext("%(field)s field '%(text)s' has an empty list item"), text=text)
        if item.upper() == "L":
            if i != DOM:
                raise _fail(gettext("'L' is only allowed in the day-of-month field"))
            last = True
            continue
        if "/" in item:
            base, _, step_text = item.partition("/")
            if not (step_text.isascii() and step_text.isdigit()):
                raise _about(
                    i, gettext("%(field)s step '%(step)s' in '%(item)s' is not a number"), step=step_text, item=item
                )
            step = int(step_text)
            if not 1 <= step <= _MAX_STEP[i]:
                raise _about(
                    i, gettext("%(field)s step %(step)s is out of range 1-%(high)s"), step=step, high=_MAX_STEP[i]
                )
            if base == "*":
                start, end = lo, hi
            elif "-" in base:
                start, end = _range(i, base, item)
            else:
                # "5/15" is 5, 20, 35, 50: from the value to the end of the field.
                start, end = _value(i, base, item), hi
            values.update(range(start, end + 1, step))
        elif item == "*":
            values.update(range(lo, hi + 1))
        elif "-" in item:
            start, end = _range(i, item, item)
            values.update(range(start, end + 1))
        else:
            values.add(_value(i, item, item))
    if i == DOW:
        values = {v % 7 for v in values}
    return frozenset(values), last


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd."""
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day_of_month(n: int) -> str:
    """"31st" in English; the active language's name for day `n` of a month ("31日")."""
    if 11 <= n % 100 <= 13:
        text = pgettext("day of the month 11, 12, 13", "%(day)sth")
    elif n % 10 == 1:
        text = pgettext("day of the month 1, 21, 31", "%(day)sst")
    elif n % 10 == 2:
        text = pgettext("day of the month 2, 22", "%(day)snd")
    elif n % 10 == 3:
        text = pgettext("day of the month 3, 23", "%(day)srd")
    else:
        text = pgettext("day of the month 4-10, 14-20, 24-30", "%(day)sth")
    return text % {"day": n}


def _join(words: list[str], conjunction: str) -> str:
    if len(words) == 1:
        return words[0]
    # The separator and the spaces around the conjunction are the language's ("、" in Chinese).
    return pgettext("list of words", "%(items)s %(conjunction)s %(last)s") % {
        "items": pgettext("list separator", ", ").join(words[:-1]),
        "conjunction": conjunction,
        "last": words[-1],
    }


def _values_text(values: frozenset[int] | tuple[int, ...], count: int) -> str:
    return "*" if len(values) == count else ",".join(str(v) for v in sorted(values))


def _split(text: str) -> tuple[str, list[str]]:
    if not isinstance(text, str):
        raise _fail(gettext("cron expression must be text, e.g. '0 9 * * 1-5'"))
    normalised = " ".join(text.split())
    if not normalised:
        raise _fail(gettext("cron expression is empty: expected 5 fields (minute hour day-of-month month day-of-week)"))
    if normalised.startswith("@"):
        macro, *rest = normalised.lower().split(" ")
        if macro not in MACROS:
            name = normalised.split(" ")[0]
            raise _fail(
                gettext("unknown macro '%(name)s': use @hourly, @daily, @weekly, @monthly or @yearly"), name=name
            )
        if rest:
            raise _fail(
                gettext("%(macro)s stands alone: remove '%(rest)s' or write the 5 fields instead"),
                macro=macro,
                rest=" ".join(rest),
            )
        return macro, MACROS[macro].split()
    fields = normalised.split(" ")
    if len(fields) == 6:
        raise _fail(gettext("seconds are not supported: use 5 fields (minute hour day-of-month month day-of-week)"))
    if len(fields) != 5:
        # Which field was left out (or added) cannot be known: say what is expected.
        raise _fail(
            gettext("expected 5 fields (minute hour day-of-month month day-of-week), got %(count)s"), count=len(fields)
        )
    return normalised, fields


@lru_cache(maxsize=2048)
def compile_cron(text: str) -> tuple[CronExpr, NaiveMatcher]:
    """Parse and check `text`; raises ScheduleError(field="cron_expression")."""
    normalised, fields = _split(text)
    parsed = [_parse_field(i, field) for i, field in enumerate(fields)]
    (minutes, _), (hours, _), (days, last_day), (months, _), (weekdays, _) = parsed
    day_and = fields[DOM].startswith("*") or fields[DOW].startswith("*")
    if day_and and not fields[DOM].startswith("*") and not last_day:
        # The day must exist in one of the months (the weekday side is unrestricted or
        # cycles through every date eventually).
        longest = max(_MAX_DAYS[m] for m in months)
        if min(days) > longest:
            missing_in = [str(MONTHS[m]) for m in sorted(months)]
            raise _fail(
                ngettext(
                    "never fires: %(months)s has no %(days)s",
                    "never fires: %(months)s have no %(days)s",
                    len(missing_in),
                ),
                months=_join(missing_in, gettext("and")),
                days=_join([_day_of_month(d) for d in sorted(days)], gettext("or")),
            )

    dom_full = len(days) == 31
    dow_full = len(weekdays) == 7
    dom_text = ",".join(str(d) for d in sorted(days)) or "L"
    dow_text = _values_text(weekdays, 7)
    if day_and:
        # croniter's day_or=False intersects the two fields.
        dom_text = "*" if dom_full else dom_text
        dow_text = "*" if dow_full else dow_text
        day_or = dom_full or dow_full
    else:
        if dom_full or dow_full:
            dom_text = dow_text = "*"
        day_or = True
    head = f"{_values_text(minutes, 60)} {_values_text(hours, 24)}"
    tail = f"{_values_text(months, 12)} {dow_text}"
    croniter_exprs = (f"{head} {dom_text} {tail}",)
    if last_day and days and dom_text != "*":
        # croniter reads "2-31,L" (30 days plus L) as every day, so `L` mixed with days
        # gets its own croniter and the earlier match of the two wins.
        croniter_exprs = (*croniter_exprs, f"{head} L {tail}")
    expr = CronExpr(
        expression=normalised,
        five_fields=" ".join(fields),
        minutes=tuple(sorted(minutes)),
        hours=tuple(sorted(hours)),
        days=days,
        last_day=last_day,
        months=months,
        weekdays=weekdays,
        day_and=day_and,
        wildcard=fields[MINUTE].startswith("*") or fields[HOUR].startswith("*"),
        croniter_exprs=croniter_exprs,
        croniter_day_or=day_or,
    )
    return expr, NaiveMatcher(expr)


def validate_cron(expr: str) -> str:
    """The normalised expression (trimmed, single spaces), or a ScheduleError saying what is wrong."""
    if not isinstance(expr, str):
        raise _fail("cron expression must be text, e.g. '0 9 * * 1-5'")
    return compile_cron(expr)[0].expression
