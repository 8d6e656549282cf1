"""Two admins adding channels at once cannot pass the per-org cap or the one-target rule
together: the org's row lock orders them (PostgreSQL, real connections)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from audit.services import Actor
from runs.alerts.channels import channel_create
from runs.models import AlertChannel
from tests.constants import NINE

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(org, targets):
    barrier = threading.Barrier(len(targets))
    outcomes = []

    def add(target):
        try:
            connection.ensure_connection()  # connected before the barrier: the inserts start together
            barrier.wait(timeout=10)
            channel_create(actor=Actor.system(), org=org, data={"kind": "email", "name": target, "target": target}, now=NINE)
            outcomes.append("saved")
        except ValidationError as exc:
            outcomes.append(next(iter(exc.message_dict["target"])))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=add, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


@pytest.mark.parametrize("round_", range(3))
def test_racing_adds_of_one_target_save_one_channel(acme, round_):
    outcomes = race(acme, ["victim@example.com"] * 4)
    assert outcomes.count("saved") == 1
    assert AlertChannel.objects.filter(org=acme).count() == 1


@pytest.mark.parametrize("round_", range(3))
def test_racing_adds_stop_at_the_cap(acme, settings, round_):
    settings.ALERT_MAX_CHANNELS_PER_ORG = 2
    outcomes = race(acme, [f"ops{i}@example.com" for i in range(5)])
    assert outcomes.count("saved") == 2
    assert AlertChannel.objects.filter(org=acme).count() == 2
