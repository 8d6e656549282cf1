"""Benchmark: lag and end-to-end throughput of real `run_scheduler` processes against a
keep-alive loopback execution plane in a process of its own (tests/bench/fast_plane.py: cheap,
so the figures measure the scheduler rather than the plane), each figure beside the raw-SQL
baseline measured in the same run (tests/bench/herd.py says how).

    python tests/bench/bench_lag.py              # the default cases (make bench)
    BENCH_HERD=1 python tests/bench/bench_lag.py # and the 09:00 herd (make bench-herd)

Default: 1,000 schedules due at one instant among 100,000 (one org), end to end 2,000 runs,
and the org limit under a burst. BENCH_HERD=1 adds 10,000 due among 1,000,000, in one org and
over 1,000 orgs, with one replica and with two, and end-to-end bursts of 2,000, 5,000 and
20,000 (the cost per run must not grow with the burst). The million schedules are written
once and kept between cases. BENCH_PYSPY=<folder> records each scheduler under py-spy.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import common, herd  # noqa: E402
from tests.bench.common import figure, section  # noqa: E402
from tests.bench.fast_plane import FastPlane  # noqa: E402
from tests.constants import UTC  # noqa: E402

HERD = os.environ.get("BENCH_HERD", "") not in ("", "0")
WORKERS = os.environ.get("BENCH_WORKERS", "16")
COMMITTED_P99 = 1.0  # the targets, seconds
ACCEPTED_P99 = 3.0
E2E_RATE = 3000  # runs/s per replica
FLAT = 1.3  # the per-run cost of the largest burst within this of the smallest's


def lag_case(plane, *, total: int, due: int, n_orgs: int, replicas: int, committed_target: float, accepted_target: float) -> None:
    label = f"{due:,} due among {total:,}, {n_orgs:,} org{'s' if n_orgs > 1 else ''}, {replicas} replica{'s' if replicas > 1 else ''}"
    section(f"Lag: {label}")
    due_at = herd.prepare(total=total, due=due, n_orgs=n_orgs)
    baseline = herd.raw_baseline(due_at)
    sessions_before = plane.unique_sessions
    plane_cpu = herd.cpu_seconds(plane.proc)
    procs = [herd.scheduler(plane.url, f"lag-{replicas}-{i}", workers=WORKERS) for i in range(replicas)]
    try:
        started = sum(herd.ready(procs))
        wait = due_at.timestamp() - time.time() - 0.5
        if wait > 0:
            time.sleep(wait)  # the scheduler wakes itself at the instant; this only waits to watch
        herd.wait_done(due, plane, sessions_before=sessions_before, deadline=90, procs=procs)
        cpu = sum(herd.cpu_seconds(p) for p in procs) - started
        plane_cpu = herd.cpu_seconds(plane.proc) - plane_cpu
    finally:
        for proc in procs:
            herd.stop(proc)
    base = due_at.timestamp()
    seen = herd.committed_times(due_at)
    committed = [t - base for t in seen.values()]
    accepted = [t - base for t in herd.accepted_times(plane, seen, sessions_before=sessions_before).values()]
    p99 = common.percentile(committed, 99)
    figure("runs committed / sessions accepted", len(committed), "runs", target=f"{due} each",
           ok=len(committed) == due == len(accepted), note=f"{len(accepted)} accepted")
    figure("raw SQL: the same rows inserted, schedules advanced, 1 tx", baseline, "s")
    figure("run row committed, lag p50", common.median(committed), "s")
    figure("run row committed, lag p99", p99, "s", baseline=baseline, baseline_label="raw SQL",
           target=f"<= {committed_target:g} s", ok=len(committed) == due and p99 <= committed_target,
           note=f"{p99 / baseline:.1f}x raw SQL")
    figure("plane call accepted, lag p50", common.median(accepted), "s")
    figure("plane call accepted, lag p99", common.percentile(accepted, 99), "s", baseline=baseline, baseline_label="raw SQL",
           target=f"<= {accepted_target:g} s", ok=len(accepted) == due and common.percentile(accepted, 99) <= accepted_target)
    figure("scheduler CPU per run", 1e6 * cpu / due, "us", note=f"{cpu:.1f} s CPU after start-up, {replicas} process(es)")
    figure("loopback plane CPU per run (its own process)", 1e6 * plane_cpu / due, "us")


def e2e_case(plane, n: int) -> dict:
    """One replica, `n` runs due already: first run row to last session accepted."""
    section(f"End to end: {n:,} due runs to a keep-alive loopback plane ({WORKERS} dispatch threads, 1 replica)")
    due_at = herd.prepare(total=None, due=n, n_orgs=1, schedule_type="once", lead_seconds=6)
    sessions_before = plane.unique_sessions
    proc = herd.scheduler(plane.url, f"e2e-{n}", workers=WORKERS)
    try:
        started = herd.ready([proc])[0]
        plane_cpu = herd.cpu_seconds(plane.proc)
        herd.wait_done(n, plane, sessions_before=sessions_before, deadline=300, procs=[proc])
        cpu = herd.cpu_seconds(proc) - started
        plane_cpu = herd.cpu_seconds(plane.proc) - plane_cpu
    finally:
        herd.stop(proc)
    seen = herd.committed_times()
    firsts = sorted(seen.values())
    accepted = list(herd.accepted_times(plane, seen, sessions_before=sessions_before).values())
    span = max(accepted) - firsts[0]
    rate = len(accepted) / span if span > 0 else float("nan")
    fired = firsts[-1] - firsts[0]
    figure("firing (first to last run row committed)", len(firsts) / fired if fired > 0 else float("nan"), "runs/s",
           note=f"{len(firsts)} rows")
    figure("end to end: first run row to last session accepted", rate, "runs/s", target=f">= {E2E_RATE:,}/s",
           ok=rate >= E2E_RATE and len(accepted) == n,
           note=f"{len(accepted)} sessions; due instant to last: {max(accepted) - due_at.timestamp():.1f} s")
    figure("wall time per run", 1e6 / rate, "us")
    figure("scheduler CPU per run", 1e6 * cpu / n, "us", note=f"{cpu:.1f} s CPU after start-up")
    figure("loopback plane CPU per run (its own process)", 1e6 * plane_cpu / n, "us")
    return {"n": n, "wall": 1 / rate, "cpu": cpu / n}


def flat_in_burst(results: list[dict]) -> None:
    small, large = results[0], results[-1]
    section(f"Cost per run, {large['n']:,} vs {small['n']:,} runs")
    for key, name in (("wall", "wall time per run"), ("cpu", "scheduler CPU per run")):
        ratio = large[key] / small[key]
        figure(f"{name}, ratio", ratio, "x", target=f"<= {FLAT:g}x", ok=ratio <= FLAT)


def org_limit_case(*, due: int, n_orgs: int, limit: int) -> None:
    """A burst over orgs with a small limit, on a plane whose sessions finish after 0.3 s
    (found by polling): no org ever has more than `limit` sessions open on the plane."""
    section(f"Org limit under a burst: {due:,} due over {n_orgs} orgs of limit {limit}")
    due_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    herd.prepare(total=None, due=due, n_orgs=n_orgs, due_at=due_at, schedule_type="once", limit=limit)
    plane = FastPlane.start(secret="bench-secret", complete_after=0.3)
    try:
        want = min(due, n_orgs * limit * 4)  # four rounds of every org's slots
        proc = herd.scheduler(plane.url, "limit", workers=WORKERS, extra_env={"SCHEDULER_POLL_PLANE_AFTER_SECONDS": "1"})
        try:
            end = time.time() + 60
            while plane.unique_sessions < want and time.time() < end:
                time.sleep(0.1)  # polling for the end only, with a deadline
        finally:
            herd.stop(proc)
        stats = plane.stats()
    finally:
        plane.stop()
    sessions, worst = stats["sessions"], stats["max_open_in_one_org"]
    figure("sessions started", sessions, "runs", target=f">= {want}", ok=sessions >= want)
    figure("most sessions open at once in one org", worst, "runs", target=f"== {limit}", ok=worst == limit)
    runs = herd.committed_times()
    figure("sessions per run (one per job_run_id)", sessions / max(1, len(runs)), "", target="<= 1", ok=sessions <= len(runs))


def main(argv: list[str]) -> int:
    common.setup_django()
    herd.setup()
    plane = FastPlane.start(secret="bench-secret")
    try:
        if HERD:
            # The million first: the 100,000 case after them rebuilds the idle schedules once.
            for n_orgs in (1, 1_000):
                for replicas in (1, 2):
                    lag_case(plane, total=1_000_000, due=10_000, n_orgs=n_orgs, replicas=replicas,
                             committed_target=COMMITTED_P99, accepted_target=ACCEPTED_P99)
        results = [e2e_case(plane, n) for n in ((2_000, 5_000, 20_000) if HERD else (2_000,))]
        if len(results) > 1:
            flat_in_burst(results)
        org_limit_case(due=2_000, n_orgs=20, limit=3)
        lag_case(plane, total=100_000, due=1_000, n_orgs=1, replicas=1, committed_target=0.5, accepted_target=1.0)
    finally:
        plane.stop()
        common.reset()
        herd.teardown()
    common.summary()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
