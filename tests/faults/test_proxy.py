"""The fault proxy itself, against the loopback plane: each fault does what it says."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.faults.proxy import Fault, FaultProxy
from tests.plane_server import PlaneServer


@pytest.fixture
def relay():
    plane = PlaneServer().start()
    proxy = FaultProxy(("127.0.0.1", plane.port)).start()
    try:
        yield plane, proxy
    finally:
        proxy.stop()
        plane.stop()


def _create(proxy, key="k-1", timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    try:
        conn.request("POST", "/sessions", body=json.dumps({"metadata": {"job_run_id": key}}), headers={"Idempotency-Key": key})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_without_a_fault_the_exchange_is_relayed(relay):
    plane, proxy = relay
    status, body = _create(proxy)
    assert status == 201 and json.loads(body)["session_id"] == "sess-000001"
    assert proxy.relayed == 1


def test_a_reset_after_the_request_leaves_the_session_created_and_the_client_without_an_answer(relay):
    plane, proxy = relay
    proxy.inject(Fault.RESET_AFTER_REQUEST, match="POST /sessions")
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _create(proxy)
    assert plane.unique_sessions == 1
    assert _create(proxy)[0] == 200  # the next one passes, and the plane dedups the key
    assert plane.unique_sessions == 1


def test_a_reset_before_the_request_reaches_nothing(relay):
    plane, proxy = relay
    proxy.inject(Fault.RESET_BEFORE_REQUEST)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _create(proxy)
    assert plane.unique_sessions == 0 and proxy.relayed == 0


@pytest.mark.parametrize(("kind", "status", "sessions"), [(Fault.BAD_GATEWAY, 502, 1), (Fault.UNAVAILABLE, 503, 0), (Fault.GATEWAY_TIMEOUT, 504, 1)])
def test_gateway_errors_answer_their_status(relay, kind, status, sessions):
    plane, proxy = relay
    proxy.inject(kind)
    assert _create(proxy)[0] == status
    assert plane.unique_sessions == sessions


def test_refuse_closes_the_port_until_cleared(relay):
    plane, proxy = relay
    proxy.inject(Fault.REFUSE)
    with pytest.raises(ConnectionRefusedError):
        _create(proxy)
    proxy.clear()
    assert _create(proxy)[0] == 201


def test_a_stalled_body_sends_the_headers_only(relay):
    plane, proxy = relay
    proxy.inject(Fault.STALLED_BODY)
    with pytest.raises(TimeoutError):
        _create(proxy, timeout=0.3)
    assert plane.unique_sessions == 1
