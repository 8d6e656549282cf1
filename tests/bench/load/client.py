"""The load test's users: C asyncio tasks (httpx), each a person with a signed-in browser
session and an API token, sending one request after another (no think time) from a fixed mix
of the pages and the API until the phase ends.

Django is not needed here: the driver made the sessions.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field

import httpx

from tests.bench.common import PREVIEW_FORM

# Name -> weight. Reads dominate, as they do for people and a chat app polling the API.
MIX = {
    "page: table": 12,
    "page: table partial (HTMX)": 12,
    "page: runs panel (HTMX)": 4,
    "page: editor preview (HTMX)": 4,
    "api: list": 20,
    "api: detail": 16,
    "api: create": 6,
    "api: patch": 10,
    "api: run-now": 8,
    "api: preview": 8,
}
# Of the run-now calls, this share repeats an Idempotency-Key that was already accepted.
REPEAT_SHARE = 1 / 3
TIMEOUT_SECONDS = 30.0

PREVIEW_JSON = {"schedule_type": "cron", "cron_expression": "30 2 * * 1-5", "timezone": "America/New_York", "count": 5}


@dataclass
class Person:
    """What one simulated user signs in with (made by the driver)."""

    session_key: str
    csrf: str
    token: str


@dataclass
class Target:
    base_url: str
    org: str
    agent: str
    people: list[Person]
    schedule_ids: list[str]  # schedules that do not fire by themselves: detail, patch, run-now


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in MIX})
    errors: dict[str, int] = field(default_factory=lambda: {name: 0 for name in MIX})
    error_samples: list[str] = field(default_factory=list)
    # (schedule id, Idempotency-Key) -> run ids answered (one, however often it is repeated)
    run_now: dict[tuple[str, str], set] = field(default_factory=dict)
    run_now_accepted: int = 0
    run_now_replayed: int = 0
    started: float = 0.0
    ended: float = 0.0

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.times.values())


class _Failed(Exception):
    pass


async def _one(client: httpx.AsyncClient, name: str, person: Person, target: Target, rng: random.Random,
               results: Results, user: int, keys: list) -> None:
    api = {"Authorization": f"Token {person.token}"}
    htmx = {"HX-Request": "true", "X-CSRFToken": person.csrf}
    ids = target.schedule_ids
    expect, replay = 200, None
    if name == "page: table":
        call = client.get("/automation/schedules/", params={"org": target.org})
    elif name == "page: table partial (HTMX)":
        params = {"org": target.org, **rng.choice([{"status": "ok"}, {"q": "load 1"}, {"status": "disabled"}])}
        call = client.get("/automation/schedules/", params=params, headers={**htmx, "HX-Target": "schedules-table"})
    elif name == "page: runs panel (HTMX)":
        call = client.get(f"/automation/schedules/{rng.choice(ids)}/runs/", headers={**htmx, "HX-Target": "runs-panel"})
    elif name == "page: editor preview (HTMX)":
        call = client.post("/automation/schedules/preview/", data=PREVIEW_FORM, headers={**htmx, "HX-Target": "preview"})
    elif name == "api: list":
        call = client.get("/api/v1/schedules/", params={"org": target.org, "page_size": 50}, headers=api)
    elif name == "api: detail":
        call = client.get(f"/api/v1/schedules/{rng.choice(ids)}/", headers=api)
    elif name == "api: create":
        body = {"org": target.org, "agent": target.agent, "name": f"load {user}-{uuid.uuid4().hex[:8]}",
                "prompt": "Summarise the load test", "schedule_type": "cron", "cron_expression": "0 9 * * 1-5",
                "timezone": "Asia/Shanghai"}
        call, expect = client.post("/api/v1/schedules/", json=body, headers=api), 201
    elif name == "api: patch":
        body = {"description": f"patched by user {user} at {time.time():.3f}"}
        call = client.patch(f"/api/v1/schedules/{rng.choice(ids)}/", json=body, headers=api)
    elif name == "api: run-now":
        if keys and rng.random() < REPEAT_SHARE:
            schedule_id, key = replay = rng.choice(keys)
        else:
            schedule_id, key = rng.choice(ids), uuid.uuid4().hex
        call = client.post(f"/api/v1/schedules/{schedule_id}/run-now/", headers={**api, "Idempotency-Key": key})
        expect = 202
    elif name == "api: preview":
        call = client.post("/api/v1/schedules/preview/", json=PREVIEW_JSON, headers=api)
    else:  # pragma: no cover - MIX names only
        raise ValueError(name)
    started = time.perf_counter()
    try:
        response = await call
    except Exception as exc:  # noqa: BLE001 - a time-out or a reset is an error of the run
        raise _Failed(f"{name}: {type(exc).__name__} {exc}") from exc
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != expect:
        raise _Failed(f"{name}: HTTP {response.status_code} {response.text[:200]!r}")
    results.times[name].append(elapsed)
    if name == "api: run-now":
        run_id = response.json()["id"]
        answered = results.run_now.setdefault((schedule_id, key), set())
        answered.add(run_id)
        if replay is None:
            results.run_now_accepted += 1
            keys.append((schedule_id, key))
        else:
            results.run_now_replayed += 1
            if response.headers.get("Idempotent-Replayed") != "true":
                raise _Failed(f"{name}: a repeated Idempotency-Key was not answered as a replay")


async def _user(user: int, target: Target, results: Results, stop_at: float, seed: int) -> None:
    rng = random.Random(seed)
    person = target.people[user % len(target.people)]
    names, weights = list(MIX), list(MIX.values())
    keys: list = []
    cookies = {"sessionid": person.session_key, "csrftoken": person.csrf}
    # One connection per user, kept alive, as a browser tab (or a chat app's worker) has.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=target.base_url, cookies=cookies, limits=limits,
                                 timeout=TIMEOUT_SECONDS) as client:
        while time.monotonic() < stop_at:
            name = rng.choices(names, weights)[0]
            try:
                await _one(client, name, person, target, rng, results, user, keys)
            except _Failed as exc:
                results.errors[name] += 1
                if len(results.error_samples) < 10:
                    results.error_samples.append(str(exc))


async def _phase(target: Target, users: int, seconds: float, seed: int) -> Results:
    results = Results()
    results.started = time.monotonic()
    stop_at = results.started + seconds
    await asyncio.gather(*(_user(i, target, results, stop_at, seed * 1000 + i) for i in range(users)))
    results.ended = time.monotonic()
    return results


def run_phase(target: Target, users: int, seconds: float, seed: int = 1) -> Results:
    """`users` people for `seconds` (requests in flight at the end are let finish)."""
    return asyncio.run(_phase(target, users, seconds, seed))

