"""A cron expression in words, in English or Simplified Chinese, from its parsed values.

Said from the values the expression allows, not from its text, so the words are true:
`*/7` in the minute field is minutes 0, 7, ..., 56 (the gap from :56 to :00 is 4 minutes,
so not "every 7 minutes"); `0-7` in the day-of-week field is every day; `*/30` in the
day-of-month field of a February-only expression is the 1st alone. "Every N" is said only
when the values repeat every N around the whole field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from .cron import CronExpr, ordinal

_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Weekdays in the order people read a week: Monday first. Values are cron's (0 = Sunday).
_WEEK = (1, 2, 3, 4, 5, 6, 0)
# A Han character beside a Latin letter or digit gets a space between them ("每 2 个月").
_HAN_THEN_LATIN = re.compile(r"([\u4e00-\u9fff])([A-Za-z0-9])")
_LATIN_THEN_HAN = re.compile(r"([A-Za-z0-9])([\u4e00-\u9fff])")


@dataclass(frozen=True)
class _Language:
    comma: str  # between the parts of the description
    list_comma: str  # between the items of a list
    and_word: str
    or_word: str
    ellipsis: str
    weekdays: tuple[str, ...]  # index = cron value, 0 = Sunday
    months: tuple[str, ...]  # index = month number, 1 = January

    def join(self, items: list[str], word: str | None = None) -> str:
        """"a, b and c" / "a、b和c"."""
        if len(items) == 1:
            return items[0]
        return f"{self.list_comma.join(items[:-1])}{word or self.and_word}{items[-1]}"

    def join_or(self, items: list[str]) -> str:
        return self.join(items, self.or_word)


EN = _Language(
    ", ", ", ", " and ", " or ", "...",
    tuple("Sunday Monday Tuesday Wednesday Thursday Friday Saturday".split()),
    ("", *"January February March April May June July August September October November December".split()),
)
ZH = _Language(
    "，", "、", "和", "或", "…",
    tuple("星期日 星期一 星期二 星期三 星期四 星期五 星期六".split()),
    ("", *"一月 二月 三月 四月 五月 六月 七月 八月 九月 十月 十一月 十二月".split()),
)


# --- sets of values -----------------------------------------------------------------------


def _runs(values: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return runs


def _progression(lang: _Language, values: list[int], item: Callable[[int], str]) -> str | None:
    """"0, 7, 14, ..., 56" for five or more values an equal step (above 1) apart, else None."""
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(values) < 5 or len(steps) != 1 or steps == {1}:
        return None
    return lang.list_comma.join([item(v) for v in values[:3]] + [lang.ellipsis, item(values[-1])])


def _items(lang: _Language, values, item: Callable[[int], str], span: Callable[[int, int], str]) -> list[str]:
    """The values as list items: a long even progression as one item ("0, 7, 14, ..., 56"),
    else each value, with runs of three or more as one span ("Monday through Friday")."""
    values = sorted(values)
    progression = _progression(lang, values, item)
    if progression:
        return [progression]
    out: list[str] = []
    for run in _runs(values):
        out.extend([span(run[0], run[-1])] if len(run) >= 3 else [item(v) for v in run])
    return out


def _every(values: tuple[int, ...], size: int, first: int) -> int | None:
    """The step N when `values` are every Nth value around the whole field (so that the
    wrap-around gap is N too) and there are at least two; else None."""
    if len(values) < 2 or size % len(values):
        return None
    step = size // len(values)
    start = values[0]
    return step if start - first < step and values == tuple(range(start, first + size, step)) else None


def _clock(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


# --- parts of the description ---------------------------------------------------------------


def _times(expr: CronExpr, lang: _Language) -> str:
    minutes, hours = expr.minutes, expr.hours
    zh = lang is ZH
    every_hours = _every(hours, 24, 0)
    if len(minutes) == 60 and len(hours) == 24:
        return "每分钟" if zh else "Every minute"
    if len(minutes) == 1 and every_hours and len(hours) >= 3:
        (minute,) = minutes
        if every_hours == 1:
            if minute == 0:
                return "每小时" if zh else "Every hour"
            return f"在每小时的第{minute}分钟" if zh else f"At {minute} minutes past every hour"
        text = f"每{every_hours}小时" if zh else f"Every {every_hours} hours"
        if (hours[0], minute) != (0, 0):
            start = _clock(hours[0], minute)
            text += f"，从{start}开始" if zh else f", starting at {start}"
        return text
    if len(minutes) * len(hours) <= 6:
        times = lang.join([_clock(h, m) for h in hours for m in minutes])
        return f"在{times}" if zh else f"At {times}"

    every_minutes = _every(minutes, 60, 0)
    if len(minutes) == 60:
        text = "每分钟" if zh else "Every minute"
    elif every_minutes:
        text = f"每{every_minutes}分钟" if zh else f"Every {every_minutes} minutes"
        if first := minutes[0]:
            text += f"，从每小时的第{first}分钟开始" if zh else f", starting at {first} minutes past the hour"
    elif minutes == (0,):
        text = "每小时" if zh else "Every hour"
    else:
        shown = lang.join(_items(lang, minutes, str, lambda a, b: f"{a}到{b}" if zh else f"{a} through {b}"))
        text = f"在每小时的第{shown}分钟" if zh else f"At {shown} minutes past the hour"
    if len(hours) == 24:
        return text
    runs = _runs(list(hours))
    if len(runs) <= 3:
        spans = [(_clock(run[0], 0), _clock(run[-1], 59)) for run in runs]
        if zh:
            return f"{text}，在{lang.join([f'{a}到{b}' for a, b in spans])}之间"
        return f"{text}, {' and '.join(f'between {a} and {b}' for a, b in spans)}"
    shown = lang.join(_items(lang, hours, str, lambda a, b: f"{a}到{b}" if zh else f"{a} through {b}"))
    return f"{text}，在{shown}时" if zh else f"{text}, during hours {shown}"


def _month_days(expr: CronExpr, lang: _Language) -> str | None:
    """"on the 1st and 15th of the month", "每月 1 号和 15 号"; None when no day can match."""
    zh = lang is ZH
    longest = max(_DAYS_IN_MONTH[m] for m in expr.months)
    days = sorted(d for d in expr.days if d <= longest)
    if zh:
        progression = _progression(lang, days, str)  # "1、3、5、…、31号": one 号 at the end
        items = [f"{progression}号"] if progression else _items(lang, days, "{}号".format, "{}号到{}号".format)
        items += ["最后一天"] if expr.last_day else []
        return f"每月{lang.join(items)}" if items else None
    items = _items(lang, days, ordinal, lambda a, b: f"{ordinal(a)} through {ordinal(b)}")
    items += ["last day"] if expr.last_day else []
    return f"on the {lang.join(items)} of the month" if items else None


def _weekdays(expr: CronExpr, lang: _Language, join: Callable[[list[str]], str]) -> tuple[str, bool]:
    """The weekdays as a list, and whether it is one span ("Monday through Friday")."""
    order = {day: i for i, day in enumerate(_WEEK)}
    positions = sorted(order[d] for d in expr.weekdays)
    through = "到" if lang is ZH else " through "
    items = _items(lang, positions, lambda i: lang.weekdays[_WEEK[i]],
                   lambda a, b: f"{lang.weekdays[_WEEK[a]]}{through}{lang.weekdays[_WEEK[b]]}")
    return join(items), len(items) == 1 and len(positions) >= 3


def _days(expr: CronExpr, lang: _Language) -> str | None:
    zh = lang is ZH
    any_date = len(expr.days) == 31
    any_weekday = len(expr.weekdays) == 7
    if expr.day_and:
        if any_weekday:
            return None if any_date else _month_days(expr, lang)
        if any_date:
            listed, span = _weekdays(expr, lang, lang.join)
            return listed if span else (f"仅在{listed}" if zh else f"only on {listed}")
        either, _ = _weekdays(expr, lang, lang.join_or)
        dates = _month_days(expr, lang)
        return f"{dates}，且当天是{either}" if zh else f"{dates}, if it falls on {either}"
    # Both fields restricted: a day matching either one fires (crontab(5)).
    if any_date or any_weekday:
        return None
    listed, _ = _weekdays(expr, lang, lang.join)
    dates = _month_days(expr, lang)
    if dates is None:
        return f"仅在{listed}" if zh else f"only on {listed}"
    return f"{dates}或{listed}" if zh else f"{dates}, or on {listed}"


def _months(expr: CronExpr, lang: _Language) -> str | None:
    zh = lang is ZH
    months = tuple(sorted(expr.months))
    if len(months) == 12:
        return None
    step = _every(months, 12, 1)
    if step and months[0] == 1 and len(months) >= 3:  # two months read better by name
        return f"每{step}个月" if zh else f"every {step} months"
    through = "到" if zh else " through "
    items = _items(lang, months, lambda m: lang.months[m], lambda a, b: f"{lang.months[a]}{through}{lang.months[b]}")
    if len(items) == 1 and len(months) >= 3:
        return items[0]
    return f"仅在{lang.join(items)}" if zh else f"only in {lang.join(items)}"


def cron_words(expr: CronExpr, chinese: bool) -> str:
    """E.g. "At 09:00, Monday through Friday" or "在 09:00，星期一到星期五"."""
    lang = ZH if chinese else EN
    parts = [_times(expr, lang), _days(expr, lang), _months(expr, lang)]
    text = lang.comma.join(part for part in parts if part)
    if chinese:
        text = _LATIN_THEN_HAN.sub(r"\1 \2", _HAN_THEN_LATIN.sub(r"\1 \2", text))
    return text
