"""The benchmarks' fast plane (tests/bench/fast_plane.py) keeps the contract the bench relies
on: one session per key, signed calls only, keep-alive, and answers our own client accepts."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest

from config.signing import sign
from runs.plane import PlaneStatus
from runs.plane.http import HttpPlaneClient
from tests import polling
from tests.bench.fast_plane import FastPlane
from tests.constants import T0
from tests.factories import make_run, make_schedule

SECRET = "fast-plane-secret"


@pytest.fixture(scope="module")
def fast_plane():
    plane = FastPlane.start(secret=SECRET)
    try:
        yield plane
    finally:
        plane.stop()


def _create(port: int, key: str, *, org: str = "acme", secret: str | None = SECRET, headers: dict | None = None):
    body = json.dumps({"agent": "echo", "prompt": "hi", "output_type": "text", "metadata": {"job_run_id": key, "org": org}}).encode()
    sent = {"Idempotency-Key": key, "Content-Type": "application/json", **(headers or {})}
    if secret is not None:
        sent["X-Signature"] = sign(secret, body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/sessions", body=body, headers=sent)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_repeated_key_gets_the_first_session_and_starts_no_other(fast_plane):
    before = fast_plane.unique_sessions
    wall_before = time.time()

    first = _create(fast_plane.port, "dedup-1")
    again = _create(fast_plane.port, "dedup-1")
    other = _create(fast_plane.port, "dedup-2")

    assert first[0] == 201 and first[1]["status"] == "running" and first[1]["message_id"]
    assert again == (200, first[1])
    assert other[0] == 201 and other[1]["session_id"] != first[1]["session_id"]
    assert fast_plane.unique_sessions == before + 2
    # The creation stamps the bench reads its "plane accepted" lag from: one per session.
    started = fast_plane.started(after=before)
    assert set(started) == {"dedup-1", "dedup-2"}
    assert wall_before <= started["dedup-1"] <= started["dedup-2"] <= time.time()


@pytest.mark.parametrize("secret", [None, "another-secret"], ids=["unsigned", "wrong secret"])
def test_a_call_without_the_right_signature_is_refused_and_starts_nothing(fast_plane, secret):
    before = fast_plane.unique_sessions

    status, body = _create(fast_plane.port, f"unsigned-{secret}", secret=secret)

    assert status == 401 and "X-Signature" in body["error"]
    assert fast_plane.unique_sessions == before


def _read_answer(sock_file) -> tuple[int, dict, dict]:
    status = int(sock_file.readline().split()[1])
    headers = {}
    while (line := sock_file.readline().strip()):
        name, value = line.decode().split(":", 1)
        headers[name.lower()] = value.strip()
    return status, headers, json.loads(sock_file.read(int(headers["content-length"])))


def test_one_connection_carries_pipelined_calls_in_order_until_the_client_asks_to_close(fast_plane):
    def request(key: str, extra: str = "") -> bytes:
        body = json.dumps({"metadata": {"job_run_id": key}}).encode()
        head = (f"POST /sessions HTTP/1.1\r\nHost: plane\r\nIdempotency-Key: {key}\r\nX-Signature: {sign(SECRET, body)}\r\n"
                f"Content-Length: {len(body)}\r\n{extra}\r\n")
        return head.encode() + body

    with socket.create_connection(("127.0.0.1", fast_plane.port), timeout=5) as sock, sock.makefile("rb") as answers:
        sock.sendall(request("pipe-1") + request("pipe-2") + request("pipe-1"))
        first, second, repeat = (_read_answer(answers) for _ in range(3))
        sock.sendall(request("pipe-3", "Connection: close\r\n"))
        last = _read_answer(answers)

        assert [first[0], second[0], repeat[0], last[0]] == [201, 201, 200, 201]
        assert repeat[2] == first[2] != second[2]
        assert "connection" not in first[1]  # HTTP/1.1: the connection stays open
        assert last[1]["connection"] == "close" and answers.read() == b""  # and then it is closed


@pytest.mark.django_db
def test_our_client_starts_polls_and_cancels_a_session_on_it(fast_plane, acme, agent):
    run = make_run(make_schedule(acme, agent), at=T0)
    client = HttpPlaneClient(base_url=fast_plane.url, timeout=5, secret=SECRET, callback="http://127.0.0.1:8000/cb/")
    try:
        started = client.start(run)
        assert client.start(run) == started  # a redispatch of the same attempt
        run.session_id = started.session_id

        assert started.status == PlaneStatus.RUNNING
        assert client.poll(run).status == PlaneStatus.RUNNING
        client.cancel(run)
        assert client.poll(run).status == PlaneStatus.CANCELED
    finally:
        client.close()


def test_sessions_finish_by_themselves_and_the_most_open_in_one_org_is_counted():
    plane = FastPlane.start(secret=SECRET, complete_after=0.2)
    try:
        for key, org in (("a-1", "a"), ("a-2", "a"), ("b-1", "b")):
            assert _create(plane.port, key, org=org)[0] == 201

        stats = polling.wait_until(lambda: (s := plane.stats())["open"] == 0 and s, what="the sessions to finish")

        assert stats["by_status"] == {"success": 3} and stats["max_open_in_one_org"] == 2
    finally:
        plane.stop()


def test_the_plane_stops_when_the_process_that_started_it_is_gone():
    plane = FastPlane.start()
    try:
        plane.proc.stdin.close()  # as the kernel does when a killed benchmark's pipes close

        assert polling.wait_until(lambda: plane.proc.poll() is not None, what="the plane to stop")
        assert plane.proc.returncode == 0
    finally:
        plane.stop()
