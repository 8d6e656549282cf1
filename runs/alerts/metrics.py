"""The open-alerts family of `/metrics` (registered with runs/metrics/prometheus.py by RunsConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily

from runs.selectors import open_alert_counts
from runs.metrics.prometheus import PREFIX


def open_alerts_family(now: datetime) -> Iterable[GaugeMetricFamily]:
    family = GaugeMetricFamily(
        f"{PREFIX}_alerts_open",
        "Open alerts by org and cause (consecutive_failures, scheduler_stalled); see docs/operations.md, Alerts.",
        labels=["org", "cause"],
    )
    for (org, cause), count in sorted(open_alert_counts().items()):
        family.add_metric([org, cause], count)
    yield family
