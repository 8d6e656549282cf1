"""Alerts: what opens and resolves them, where they are delivered, and the stall check.

- `models`: Alert (one open per cause, org and schedule), AlertEvent (each transition),
  AlertChannel (webhook or e-mail, per org), AlertDelivery and DeliveryAttempt;
- `services`: open, update, resolve (the transitions), channels, the test alert;
- `failures`: the `run_finish` hook (consecutive failures and auto-pause);
- `stall`: the scheduler's health (healthy, degraded, stalled) and its alerts;
- `delivery`: webhook and e-mail sending, retries with back-off;
- `channels`: adding, changing and removing channels (audited), and who may;
- `metrics`: the open-alerts family of `/metrics`.
"""
