"""What every execution-plane client speaks: start a session, poll it, cancel it.

Two implementations (docs/design.md section 6): `http` (the production plane, a separate system)
and `local` (subprocesses named in settings). The dispatcher and reconcile only see this
interface, so tests can drive either against real processes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from dataclasses import dataclass, field
from typing import Callable, Protocol

from runs.models import RunErrorCode, plane_http_error
from schedules import variables


class PlaneStatus:
    """The plane's vocabulary for a session (the contract, docs/execution-plane.md)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"
    # Only the local plane reports this: it runs the agent and enforces the schedule's timeout
    # itself. It is not part of the HTTP contract: a remote plane never sends it (the control
    # plane times runs out on its side, reconcile.time_out_runs), and an answer carrying it is
    # a bad response.
    TIMEOUT = "timeout"

    ACTIVE = (QUEUED, RUNNING)
    TERMINAL = (SUCCESS, FAILED, CANCELED, TIMEOUT)
    # What the HTTP contract lets a plane answer (create, poll, callback).
    CONTRACT = (QUEUED, RUNNING, SUCCESS, FAILED, CANCELED)


# `scheme://user:password@` or `scheme://token@` in any text; up to the last `@` before the
# host, so a password with an unescaped `@` is masked whole.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/?#]+)@")


def redact_credentials(text: str) -> str:
    """`http://svc:pl4ne-pass@host/x` -> `http://svc:***@host/x`; a user-only `https://token@host`
    loses the user too. For every error text that is stored on a run (tenants read it) or logged.
    """

    def mask(match: re.Match) -> str:
        user, sep, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user}:***@" if sep else f"{match['scheme']}***@"

    return _URL_USERINFO.sub(mask, text)


class PlaneError(Exception):
    """A plane call that did not produce the contract's answer; `code` is a RunErrorCode value.

    The message is stored on the run and shown to its org, so credentials are masked here, once,
    whatever text the transport put in it (a URL, an exception's words).

    `unknown_outcome`: the plane may have acted on the request (it was sent, and no answer
    says what became of it: a timeout after sending, a reset, a 5xx, a 2xx we cannot read).
    Whether and how a run is tried again is runs.retry.decide_retry's business.
    """

    def __init__(self, code: str, message: str, *, unknown_outcome: bool = False):
        message = redact_credentials(message)
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.unknown_outcome = unknown_outcome


# Answers that say the plane did not act on the request but might the next time.
NOT_NOW = (408, 429)


def status_error(status: int, where: str, snippet: str, *, session_lookup: bool = False) -> PlaneError:
    """The PlaneError of an answer that is not a 2xx, by the ambiguity rule, for every plane:
    a 5xx (the plane's or a gateway's), 408 or 429 leaves the outcome unknown (the same attempt
    is sent again); a 404 where a session is looked up (poll, cancel) is
    `plane_session_not_found`; any other 4xx is `plane_rejected`; a 3xx (never followed) is
    `plane_bad_response`."""
    text = f"{where} answered {status}: {snippet}" if snippet else f"{where} answered {status}"
    if status >= 500 or status in NOT_NOW:
        return PlaneError(plane_http_error(status), text, unknown_outcome=True)
    if status == 404 and session_lookup:
        return PlaneError(RunErrorCode.PLANE_SESSION_NOT_FOUND, text)
    if status >= 400:
        return PlaneError(RunErrorCode.PLANE_REJECTED, text)
    return PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, text)


@dataclass(frozen=True)
class PlaneResult:
    """A session's state as the plane reports it (poll answer, callback body, local result)."""

    status: str
    session_id: str = ""
    message_id: str = ""
    outputs: list = field(default_factory=list)
    error_code: str = ""
    error_message: str = ""
    # The agent's answer as text (the contract's optional `text`), capped at MAX_ANSWER.
    answer: str = ""
    # What the session used (the contract's optional `usage`), as the run's columns:
    # {input_tokens, output_tokens, total_tokens, cost_usd}; None when not reported.
    usage: dict | None = None

    # What the runtime itself reported, as read, when the plane keeps more than the contract's
    # fields (LangGraph: {"run": <its Run>, "values": <the thread's final state>}), e.g. for
    # token usage. Not stored on the run.
    state: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in PlaneStatus.TERMINAL


@dataclass(frozen=True)
class StartResult:
    """The plane accepted the run: its session, and (synchronous planes) the final result."""

    session_id: str
    message_id: str = ""
    status: str = PlaneStatus.RUNNING
    result: PlaneResult | None = None


class PlaneClient(Protocol):
    # True when start() runs the whole session and returns its result (the local plane);
    # such a plane is never polled.
    synchronous: bool

    def start(
        self, run, *, on_started: Callable[[str], None] | None = None, timeout: float | None = None
    ) -> StartResult:
        """Start the run's session. `timeout`: the longest the call may take, everything included
        (the dispatcher's lease sets it); an asynchronous plane that needs longer raises
        PlaneError(plane_timeout). A synchronous plane runs the agent under the schedule's own
        timeout instead, once `on_started` has recorded the session."""
        ...

    def poll(self, run) -> PlaneResult: ...

    def cancel(self, run) -> None: ...


MAX_OUTPUTS = 100
MAX_FIELD = 2048
# The agent's answer kept on the run: enough for a report's text, small enough for a row.
MAX_ANSWER = 64 * 1024


def result_from_body(body) -> PlaneResult:
    """Validate a poll answer or callback body; PlaneError(plane_bad_response) when it is not one.

    The body is `{job_run_id, session_id, message_id?, status, outputs: [{type, name, url,
    size_bytes?, content_type?}], text?, usage?, error?: {code, message}}`; `text` is the agent's answer (longer ones are cut). Strict on shape so that a broken plane shows up as a clear error
    on the run, not as garbage in the run log.
    """
    if not isinstance(body, dict):
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "expected a JSON object")
    status = body.get("status")
    if status not in PlaneStatus.CONTRACT:
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"unknown status {status!r}")
    outputs = body.get("outputs") or []
    if not isinstance(outputs, list) or len(outputs) > MAX_OUTPUTS:
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"outputs must be a list of at most {MAX_OUTPUTS} items")
    clean = [_output(item) for item in outputs]
    error = body.get("error") or {}
    if not isinstance(error, dict):
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "error must be an object {code, message}")
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "text must be a string")
    error_code = str(error.get("code") or "")[:64]
    if status == PlaneStatus.FAILED and not error_code:
        error_code = RunErrorCode.AGENT_FAILED
    return PlaneResult(
        status=status,
        session_id=_text(body.get("session_id"), "session_id"),
        message_id=_text(body.get("message_id"), "message_id"),
        outputs=clean,
        error_code=error_code,
        error_message=str(error.get("message") or "")[:MAX_FIELD],
        answer=(text or "")[:MAX_ANSWER],
        usage=usage_from_body(body.get("usage")),
    )


def _output(item) -> dict:
    """One output: {type, name, url} strings, and optional `size_bytes` and `content_type`."""
    if not (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("type", "name", "url"))):
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "each output must be {type, name, url} strings")
    clean = {"type": item["type"][:32], "name": item["name"][:255], "url": item["url"]}
    size, content_type = item.get("size_bytes"), item.get("content_type")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "an output's size_bytes must be a whole number >= 0")
        clean["size_bytes"] = size
    if content_type is not None:
        if not isinstance(content_type, str) or len(content_type) > 255:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "an output's content_type must be a string")
        clean["content_type"] = content_type
    return clean


TOKEN_FIELDS = ("input_tokens", "output_tokens", "total_tokens")
MAX_TOKENS = 2**62
MAX_COST = Decimal("99999999.999999")


def usage_from_body(usage) -> dict | None:
    """The contract's `usage` {input_tokens, output_tokens, total_tokens, cost_usd} (each optional,
    whole numbers >= 0 and a number of US dollars >= 0) as the run's columns; total_tokens is
    input + output when left out. PlaneError(plane_bad_response) when it is not that."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "usage must be an object {input_tokens, output_tokens, total_tokens, cost_usd}")
    clean = {}
    for name in TOKEN_FIELDS:
        value = usage.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TOKENS:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"usage.{name} must be a whole number >= 0")
        clean[name] = value
    if "total_tokens" not in clean and ("input_tokens" in clean or "output_tokens" in clean):
        clean["total_tokens"] = clean.get("input_tokens", 0) + clean.get("output_tokens", 0)
    cost = usage.get("cost_usd")
    if cost is not None:
        try:
            amount = Decimal(str(cost)) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or not 0 <= amount <= MAX_COST:
            raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, "usage.cost_usd must be a number of US dollars >= 0")
        clean["cost_usd"] = amount.quantize(Decimal("0.000001"))
    return clean or None


def _text(value, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 128:
        raise PlaneError(RunErrorCode.PLANE_BAD_RESPONSE, f"{name} must be a string of at most 128 characters")
    return value


def session_request(run) -> dict:
    """The body both planes receive: what to run, and where it comes from.

    Built from the run's snapshot (agent, prompt, output_type, params), never from the live
    schedule, so a retry sends exactly what the first attempt sent. `run.org` should be loaded.
    A schedule made from a chat result also names that chat (`source_session_id`), so the
    plane can link a scheduled answer to the conversation it came from; the dispatcher loads
    `run.schedule` with the run.
    """
    source = getattr(run.schedule, "source_session_id", "") if run.schedule_id else ""
    body = {
        "agent": run.agent_slug,
        "prompt": run.prompt,
        "output_type": run.output_type,
        "params": run.params or {},
        "metadata": {
            "trigger_type": run.trigger_type,
            "schedule_id": str(run.schedule_id),
            "job_run_id": run.job_run_id,
            "attempt": run.attempt,
            "scheduled_for": run.scheduled_for.isoformat().replace("+00:00", "Z"),
            "org": run.org.slug,
        },
    }
    if source:
        body["metadata"]["source_session_id"] = source
    # Per-run caps, for runtimes that enforce them (the control plane cannot: usage comes after).
    schedule = run.schedule if run.schedule_id else None
    if getattr(schedule, "max_tokens", None) is not None:
        body["metadata"]["max_tokens"] = schedule.max_tokens
    if getattr(schedule, "max_cost_usd", None) is not None:
        body["metadata"]["max_cost_usd"] = float(schedule.max_cost_usd)
    body["metadata"].update(local_metadata(run))
    return body


def local_metadata(run) -> dict:
    """`scheduled_for_local` and `timezone`: the occurrence in the schedule's own zone, from the
    run's variables (a run written before they existed: the schedule's zone now)."""
    values = run.variables or {}
    if "scheduled_for" in values and "timezone" in values:
        return {"scheduled_for_local": values["scheduled_for"], "timezone": values["timezone"]}
    zone = run.schedule.timezone if run.schedule_id else "UTC"
    local = variables.values_at(run.scheduled_for, zone)
    return {"scheduled_for_local": local["scheduled_for"], "timezone": zone}
