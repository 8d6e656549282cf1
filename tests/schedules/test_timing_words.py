"""Cron descriptions as people read them on the page: one table per language, exact strings.

Each description must be true: "every N" only when the values really repeat every N around
the whole field, day and month names that mean what the expression means, and Chinese with
Chinese punctuation (、，) and no space between Chinese words.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings

from schedules import timing
from schedules.timing import Spec
from tests.schedules.test_timing_oracle import PROPERTY, cron_expressions

ENGLISH = [
    # Every N, only where it is true around the whole field.
    ("* * * * *", "Every minute"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("5/15 * * * *", "Every 15 minutes, starting at 5 minutes past the hour"),
    ("*/7 * * * *", "At 0, 7, 14, ..., 56 minutes past the hour"),  # :56 to :00 is 4 minutes
    ("5-40/10 * * * *", "At 5, 15, 25 and 35 minutes past the hour"),
    ("0 * * * *", "Every hour"),
    ("30 * * * *", "At 30 minutes past every hour"),
    ("0 */2 * * *", "Every 2 hours"),
    ("30 1/2 * * *", "Every 2 hours, starting at 01:30"),
    ("0 */5 * * *", "At 00:00, 05:00, 10:00, 15:00 and 20:00"),  # 20:00 to 00:00 is 4 hours
    ("*/10 9-17 * * *", "Every 10 minutes, between 09:00 and 17:59"),
    ("0 9-17 * * *", "Every hour, between 09:00 and 17:59"),
    ("*/15 */2 * * *", "Every 15 minutes, during hours 0, 2, 4, ..., 22"),
    # Clock times.
    ("0 9 * * *", "At 09:00"),
    ("@daily", "At 00:00"),
    ("0 9,21 * * *", "At 09:00 and 21:00"),
    ("*/20 1 * * *", "At 01:00, 01:20 and 01:40"),
    # Days of the week: 0 and 7 are both Sunday.
    ("0 0 * * 0-7", "At 00:00"),
    ("0 0 * * 0,7", "At 00:00, only on Sunday"),
    ("0 9 * * 1-5", "At 09:00, Monday through Friday"),
    ("0 0 * * 5-7", "At 00:00, Friday through Sunday"),
    ("0 9 * * MON,WED,FRI", "At 09:00, only on Monday, Wednesday and Friday"),
    ("0 0 * * */2", "At 00:00, only on Tuesday, Thursday, Saturday and Sunday"),
    # Days of the month, with ordinals.
    ("0 9 L * *", "At 09:00, on the last day of the month"),
    ("0 12 3,13,L * *", "At 12:00, on the 3rd, 13th and last day of the month"),
    ("0 0 11,12,22 * *", "At 00:00, on the 11th, 12th and 22nd of the month"),
    ("0 0 1-10 * *", "At 00:00, on the 1st through 10th of the month"),
    ("0 0 */2 * *", "At 00:00, on the 1st, 3rd, 5th, ..., 31st of the month"),  # the 31st to the 1st is 1 day
    ("0 0 */30 2 *", "At 00:00, on the 1st of the month, only in February"),  # February has no 31st
    ("0 0 13 * FRI", "At 00:00, on the 13th of the month, or on Friday"),
    ("0 0 */10 * FRI", "At 00:00, on the 1st, 11th, 21st and 31st of the month, if it falls on Friday"),
    # Months.
    ("0 0 1 */2 *", "At 00:00, on the 1st of the month, every 2 months"),
    ("0 0 1 */5 *", "At 00:00, on the 1st of the month, only in January, June and November"),
    ("0 0 1 JAN-MAR *", "At 00:00, on the 1st of the month, January through March"),
    ("0 0 1 1,7 *", "At 00:00, on the 1st of the month, only in January and July"),
]

CHINESE = [
    ("* * * * *", "每分钟"),
    ("*/15 * * * *", "每 15 分钟"),
    ("5/15 * * * *", "每 15 分钟，从每小时的第 5 分钟开始"),
    ("*/7 * * * *", "在每小时的第 0、7、14、…、56 分钟"),
    ("0 * * * *", "每小时"),
    ("30 * * * *", "在每小时的第 30 分钟"),
    ("0 */2 * * *", "每 2 小时"),
    ("30 1/2 * * *", "每 2 小时，从 01:30 开始"),
    ("0 */5 * * *", "在 00:00、05:00、10:00、15:00 和 20:00"),
    ("*/10 9-17 * * *", "每 10 分钟，在 09:00 到 17:59 之间"),
    ("*/15 */2 * * *", "每 15 分钟，在 0、2、4、…、22 时"),
    ("0 9 * * *", "在 09:00"),
    ("0 0 * * 0-7", "在 00:00"),
    ("0 9 * * 1-5", "在 09:00，星期一到星期五"),
    ("0 9 * * 1,3,5", "在 09:00，仅在星期一、星期三和星期五"),
    ("0 9 L * *", "在 09:00，每月最后一天"),
    ("0 12 3,13,L * *", "在 12:00，每月 3 号、13 号和最后一天"),
    ("0 0 */2 * *", "在 00:00，每月 1、3、5、…、31 号"),
    ("0 0 */30 2 *", "在 00:00，每月 1 号，仅在二月"),
    ("0 0 13 * FRI", "在 00:00，每月 13 号或星期五"),
    ("0 0 */10 * FRI", "在 00:00，每月 1 号、11 号、21 号和 31 号，且当天是星期五"),
    ("0 0 1 */2 *", "在 00:00，每月 1 号，每 2 个月"),
    ("0 0 1 JAN-MAR *", "在 00:00，每月 1 号，一月到三月"),
    ("0 0 1 1,7 *", "在 00:00，每月 1 号，仅在一月和七月"),
]


@pytest.mark.parametrize(("expr", "words"), ENGLISH)
def test_english_descriptions(expr, words):
    assert timing.describe(Spec(schedule_type="cron", cron_expression=expr)) == f"{words} (UTC)"


@pytest.mark.parametrize(("expr", "words"), CHINESE)
def test_chinese_descriptions(expr, words):
    assert timing.describe(Spec(schedule_type="cron", cron_expression=expr), "zh-hans") == f"{words} (UTC)"


@settings(PROPERTY, max_examples=300)
@given(expr=cron_expressions())
def test_every_valid_expression_has_a_description_in_both_languages(expr):
    spec = Spec(schedule_type="cron", cron_expression=expr)
    english, chinese = timing.describe(spec), timing.describe(spec, "zh-hans")
    assert english.endswith(" (UTC)") and chinese.endswith(" (UTC)")
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", chinese), chinese  # no space between Chinese words
