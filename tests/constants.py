"""The instants tests share: one definition each, imported everywhere.

T0 is the suite's "now" (the fake clock starts there); NINE is the 09:00 UTC occurrence most
run tests fire, dispatch or finish.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

UTC = timezone.utc
T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
NINE = T0 + timedelta(hours=9)
