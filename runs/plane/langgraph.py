"""The LangGraph Agent Server as an execution plane (Agent Protocol; docs/execution-plane.md).

One thread per attempt: its id is derived from the attempt's `job_run_id`, so whoever sends
the attempt again (a redispatch after a crash, a call whose answer was lost) finds the same
thread. The server has no idempotency key for runs, so the start is a recipe:

1. `POST /threads` with that id and `if_exists: do_nothing` (a second caller gets the same thread);
2. the thread already has a run: adopt it (the first call created it);
3. otherwise `POST /threads/{id}/runs` with `multitask_strategy: reject`; a 409 means another
   caller's run got there first: list the runs again and adopt it.

The run's `webhook` points at our route (runs/langgraph_webhook.py) with an HMAC of the
`job_run_id` in its path, since the server does not sign webhooks; what the webhook says is
never used, the route reads the run back through `poll`. `session_id` holds the thread id and
`message_id` the run id.

Calls go through `langgraph-sdk`'s sync client, on an httpx client of ours: no proxy from the
environment, and the connection layer of config/transport.py, so each call of ours (a start
is up to four requests) has one deadline that bounds every connect, read and write of it,
whatever pace the server answers at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import ssl
import threading
import time
import uuid

import httpcore
import httpx
from django.conf import settings
from django.urls import reverse
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import APIStatusError

from config import transport

from runs.models import RunErrorCode
from runs.plane.base import (
    MAX_ANSWER,
    MAX_FIELD,
    PlaneError,
    PlaneResult,
    PlaneStatus,
    StartResult,
    redact_credentials,
    result_from_body,
    session_request,
    status_error,
)
from schedules.models import Agent

# Fixed for ever: changing it would give every attempt sent again a new thread (a second run).
THREAD_NAMESPACE = uuid.UUID("6f1d3c2a-9b7e-5a41-8c0d-2e4f6a8b0c1d")

# The server's run statuses (Agent Protocol) in our vocabulary.
STATUS = {
    "pending": PlaneStatus.RUNNING,
    "running": PlaneStatus.RUNNING,
    "success": PlaneStatus.SUCCESS,
    "error": PlaneStatus.FAILED,
    "timeout": PlaneStatus.TIMEOUT,
    "interrupted": PlaneStatus.FAILED,
}
INTERRUPTED = "agent_interrupted"


def thread_id_for(job_run_id: str) -> str:
    """The attempt's thread: the same id every time the attempt is sent."""
    return str(uuid.uuid5(THREAD_NAMESPACE, job_run_id))


def webhook_token(job_run_id: str, secret: str | None = None) -> str:
    """HMAC-SHA256 of the job_run_id with EXECUTION_PLANE_SECRET (hex): the webhook URL's proof."""
    key = settings.EXECUTION_PLANE_SECRET if secret is None else secret
    return hmac.new(key.encode(), job_run_id.encode(), hashlib.sha256).hexdigest()


def webhook_path(job_run_id: str) -> str:
    return reverse("runs-langgraph-webhook", kwargs={"job_run_id": job_run_id, "token": webhook_token(job_run_id)})


def run_input(request: dict, input_style: str) -> dict:
    """The graph's input for a session request: chat style (a user message) or fields style."""
    extra = {"output_type": request["output_type"], "params": request["params"]}
    if input_style == "fields":
        return {"prompt": request["prompt"], **extra}
    return {"messages": [{"role": "user", "content": request["prompt"]}], **extra}


def answer_from_values(values) -> str:
    """The agent's answer in a thread's final state: the last assistant message, else a
    `result` or `output` value (text as is, anything else as JSON); "" when there is none."""
    if not isinstance(values, dict):
        return ""
    for message in reversed(values.get("messages") or []):
        if isinstance(message, dict) and (message.get("type") == "ai" or message.get("role") == "assistant"):
            return _text_of(message.get("content"))[:MAX_ANSWER]
    for key in ("result", "output"):
        value = values.get(key)
        if value not in (None, ""):
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            return text[:MAX_ANSWER]
    return ""


# The token counts LangChain puts on each AI message (`usage_metadata`), as the contract's names.
_TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens")


def usage_from_values(values, metadata=None):
    """What a LangGraph run used, in the contract's `usage` shape, or None when nothing says.

    A graph that reports its own `usage` ({input_tokens, output_tokens, total_tokens, cost_usd})
    in its final state, or the run's metadata, is taken as it is; otherwise the `usage_metadata`
    of the AI messages in the final state are added up (tokens only: the server knows no price).
    """
    for source in (values, metadata):
        if isinstance(source, dict) and isinstance(source.get("usage"), dict):
            return source["usage"]
    totals: dict = {}
    messages = values.get("messages") if isinstance(values, dict) else None
    for message in messages or []:
        counts = message.get("usage_metadata") if isinstance(message, dict) else None
        if not isinstance(counts, dict):
            continue
        for key in _TOKEN_KEYS:
            if isinstance(counts.get(key), int) and not isinstance(counts.get(key), bool):
                totals[key] = totals.get(key, 0) + counts[key]
    return totals or None


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Content blocks: [{"type": "text", "text": "..."}, ...]
        return "".join(
            block if isinstance(block, str) else str(block.get("text") or "")
            for block in content
            if isinstance(block, (str, dict))
        )
    return ""


class LangGraphPlaneClient:
    synchronous = False

    def __init__(self, *, url: str, api_key: str = "", timeout: float = 10.0, site_url: str = ""):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"LANGGRAPH_URL must be an http(s) URL, got {redact_credentials(url)!r}")
        self.url = url.rstrip("/")
        self.shown_url = redact_credentials(self.url)
        self.api_key = api_key
        self.timeout = timeout
        self.site_url = (site_url or settings.SITE_URL).rstrip("/")
        # One SDK client for every worker thread (httpx's pool is thread-safe; each call's
        # deadline is its own thread's), made on first use.
        self._sdk_client = None
        self._sdk_lock = threading.Lock()

    @classmethod
    def from_settings(cls) -> LangGraphPlaneClient:
        if not settings.LANGGRAPH_URL:
            raise ValueError("EXECUTION_PLANE is langgraph but LANGGRAPH_URL is empty")
        return cls(
            url=settings.LANGGRAPH_URL,
            api_key=settings.LANGGRAPH_API_KEY,
            timeout=settings.EXECUTION_PLANE_TIMEOUT_SECONDS,
        )

    # --- the three calls -------------------------------------------------------------------

    def start(self, run, *, on_started=None, timeout: float | None = None) -> StartResult:
        deadline = time.monotonic() + (self.timeout if timeout is None else min(self.timeout, timeout))
        request = session_request(run)
        assistant_id, input_style = self._agent(run)
        thread_id = thread_id_for(run.job_run_id)
        # Metadata values are strings, so the server's metadata filters match them as given.
        metadata = {key: str(value) for key, value in request["metadata"].items()}
        self._request(
            deadline,
            "POST /threads",
            lambda sdk: sdk.threads.create(thread_id=thread_id, if_exists="do_nothing", metadata=metadata),
        )
        found = self._first_run(thread_id, deadline)
        if found is None:
            try:
                found = self._request(
                    deadline,
                    "POST /threads/{id}/runs",
                    lambda sdk: sdk.runs.create(
                        thread_id,
                        assistant_id,
                        input=run_input(request, input_style),
                        metadata=metadata,
                        webhook=self.site_url + webhook_path(run.job_run_id),
                        multitask_strategy="reject",
                    ),
                    conflict_ok=True,
                )
            except _Conflict:
                # Another caller's run is on the thread: it is this attempt's, adopt it.
                found = self._first_run(thread_id, deadline)
                if found is None:
                    raise PlaneError(
                        RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: 409 on create, but the thread {thread_id} has no run",
                        unknown_outcome=True,
                    ) from None
        run_id, status = self._run_fields(found)
        return StartResult(session_id=thread_id, message_id=run_id, status=STATUS.get(status, PlaneStatus.RUNNING))

    def poll(self, run) -> PlaneResult:
        deadline = time.monotonic() + self.timeout
        thread_id = run.session_id or thread_id_for(run.job_run_id)
        if run.message_id:
            found = self._request(
                deadline, "GET /threads/{id}/runs/{run_id}", lambda sdk: sdk.runs.get(thread_id, run.message_id), lost_ok=True
            )
        else:
            # The webhook came before our create answer was recorded: the thread has the run.
            found = self._first_run(thread_id, deadline)
            if found is None:
                raise PlaneError(RunErrorCode.PLANE_SESSION_NOT_FOUND, f"{self.shown_url}: thread {thread_id} has no run")
        run_id, status = self._run_fields(found)
        ours = STATUS.get(status)
        if ours is None:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: unknown run status {status!r}")
        if ours not in PlaneStatus.TERMINAL:
            return PlaneResult(status=ours, session_id=thread_id, message_id=run_id, state={"run": found})
        thread = self._request(deadline, "GET /threads/{id}", lambda sdk: sdk.threads.get(thread_id), lost_ok=True)
        return self.result_of(found, thread)

    def cancel(self, run) -> None:
        if not run.message_id:
            return
        deadline = time.monotonic() + self.timeout
        try:
            self._request(
                deadline,
                "POST /threads/{id}/runs/{run_id}/cancel",
                lambda sdk: sdk.runs.cancel(run.session_id, run.message_id, action="interrupt"),
                conflict_ok=True,
                lost_ok=True,
            )
        except _Conflict:
            pass  # finished already: nothing left to stop
        except PlaneError as exc:
            if exc.code != RunErrorCode.PLANE_SESSION_NOT_FOUND:
                raise

    # --- reading a final state -------------------------------------------------------------

    def result_of(self, found: dict, thread) -> PlaneResult:
        """A finished run's PlaneResult from the run and its thread, both read from the server.

        `state` keeps both as read ({"run": ..., "values": ...}): the run's metadata and the
        final state values, for readers such as token usage.
        """
        run_id, status = self._run_fields(found)
        thread = thread if isinstance(thread, dict) else {}
        values = thread.get("values") if isinstance(thread.get("values"), dict) else {}
        thread_id = str(thread.get("thread_id") or found.get("thread_id") or "")
        body = {
            "status": STATUS[status] if STATUS[status] != PlaneStatus.TIMEOUT else PlaneStatus.FAILED,
            "session_id": thread_id,
            "message_id": run_id,
            "outputs": values.get("outputs") or [],
            "text": answer_from_values(values),
            "usage": usage_from_values(values, found.get("metadata")),
        }
        if status == "error":
            error = thread.get("error") if isinstance(thread.get("error"), dict) else {}
            message = ": ".join(str(error[key]) for key in ("error", "message") if error.get(key))
            body["error"] = {"code": RunErrorCode.AGENT_FAILED, "message": message or "the run ended with an error"}
        elif status == "interrupted" or thread.get("status") == "interrupted":
            # Canceled on the server, or the graph stopped for human input no schedule can give.
            body["status"] = PlaneStatus.FAILED
            body["error"] = {"code": INTERRUPTED, "message": f"the LangGraph run was interrupted (thread status {thread.get('status')!r})"}
        state = {"run": found, "values": values}
        try:
            result = result_from_body(body)
        except PlaneError as exc:
            return PlaneResult(
                status=PlaneStatus.FAILED,
                session_id=thread_id,
                message_id=run_id,
                error_code=exc.code,
                error_message=f"the final state's outputs were not understood: {exc.message}"[:MAX_FIELD],
                state=state,
            )
        if status == "timeout":
            result = dataclasses.replace(
                result, status=PlaneStatus.TIMEOUT, error_code=RunErrorCode.TIMEOUT, error_message="the LangGraph run timed out"
            )
        return dataclasses.replace(result, state=state)

    # --- transport -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the idle connections (the dispatcher calls it once no call is in flight)."""
        with self._sdk_lock:
            sdk, self._sdk_client = self._sdk_client, None
        if sdk is not None:
            sdk.http.client.close()

    def _sdk(self) -> SyncLangGraphClient:
        with self._sdk_lock:
            if self._sdk_client is None:
                headers = {"User-Agent": "agent-schedules/1"}
                if self.api_key:
                    headers["X-Api-Key"] = self.api_key
                http = httpx.Client(
                    base_url=self.url,
                    transport=_DeadlineTransport(),
                    headers=headers,
                    timeout=self.timeout,
                    # Never a proxy or credentials from our environment by surprise.
                    trust_env=False,
                )
                self._sdk_client = SyncLangGraphClient(http)
            return self._sdk_client

    def _agent(self, run) -> tuple[str, str]:
        """(assistant_id, input_style) of the run's agent, read at each start: an edit in the
        admin applies to the next attempt without a restart."""
        row = Agent.objects.filter(org_id=run.org_id, slug=run.agent_slug).values_list("assistant_id", "input_style").first()
        assistant_id, style = row or ("", "chat")
        return assistant_id or run.agent_slug, style

    def _first_run(self, thread_id: str, deadline: float) -> dict | None:
        runs = self._request(deadline, "GET /threads/{id}/runs", lambda sdk: sdk.runs.list(thread_id, limit=10), lost_ok=True)
        if not isinstance(runs, list):
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: the run list is not a list", unknown_outcome=True)
        runs = [item for item in runs if isinstance(item, dict)]
        # One run per thread is the rule; should there ever be more, the first created is the attempt's.
        return min(runs, key=lambda item: str(item.get("created_at") or "")) if runs else None

    def _run_fields(self, found) -> tuple[str, str]:
        if not isinstance(found, dict) or not isinstance(found.get("run_id"), str) or not found["run_id"]:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: the answer is not a run (no run_id)", unknown_outcome=True)
        status = found.get("status")
        if status not in STATUS:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: unknown run status {status!r}", unknown_outcome=True)
        if len(found["run_id"]) > 128:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{self.shown_url}: run_id longer than 128 characters", unknown_outcome=True)
        return found["run_id"], status

    def _request(self, deadline: float, what: str, call, *, conflict_ok: bool = False, lost_ok: bool = False):
        """One request with what is left of the call's deadline; every failure a PlaneError."""
        where = f"{what} on {self.shown_url}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise PlaneError(RunErrorCode.PLANE_TIMEOUT, f"{where}: the call's deadline passed", unknown_outcome=True)
        try:
            with transport.deadline(left):
                return call(self._sdk())
        # `unknown_outcome` (the ambiguity rule, runs.retry): the server may have acted on what
        # was sent. Any step of a start counts, not only the run's create: the attempt is then
        # sent again under the same job_run_id, and the recipe adopts whatever run exists.
        except APIStatusError as exc:
            code = exc.response.status_code
            snippet = redact_credentials(str(exc.message))[:300]
            if code == 409 and conflict_ok:
                raise _Conflict() from None
            raise status_error(code, where, snippet, session_lookup=lost_ok) from None
        except httpx.TimeoutException as exc:
            sent = not isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout))
            raise PlaneError(RunErrorCode.PLANE_TIMEOUT, f"{where}: no complete answer in time", unknown_outcome=sent) from None
        except (httpx.TransportError, OSError) as exc:
            sent = not isinstance(exc, httpx.ConnectError)
            raise PlaneError(
                RunErrorCode.PLANE_UNREACHABLE, f"{where}: {type(exc).__name__}: {exc}", unknown_outcome=sent
            ) from None
        except (ValueError, httpx.HTTPError) as exc:
            raise PlaneError(
                RunErrorCode.PLANE_BAD_RESPONSE, f"{where}: {type(exc).__name__}: {exc}", unknown_outcome=True
            ) from None


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport on the deadline-aware connection layer (config.transport).

    httpx takes no network backend, so the pool it built is replaced by one that has it; a
    test drives a server that drips its answer (tests/runs/test_langgraph_plane.py) and fails
    should an httpx upgrade stop honouring this.
    """

    def __init__(self):
        super().__init__(trust_env=False)
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_keepalive_connections=64,
            keepalive_expiry=30.0,
            network_backend=transport.network_backend(),
        )


class _Conflict(Exception):
    """A 409: the thread already runs this attempt's run (create) or the run is over (cancel)."""
