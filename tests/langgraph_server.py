"""A real LangGraph Agent Server (`langgraph dev`, in memory) on a free loopback port.

Each server gets a fresh folder: `langgraph dev` pickles its state to `./.langgraph_api` every
few seconds and loads it again on start, so a reused folder would bring old threads back.
The graphs are `tests/langgraph_graphs.py` (no LLM); `langgraph.json` lets the server send
webhooks to loopback, which it refuses by default.

    server = LangGraphServer(tmp_path).start()
    ... server.url ...
    server.stop()
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests import polling

ROOT = Path(__file__).resolve().parents[1]
GRAPHS = Path(__file__).resolve().parent / "langgraph_graphs.py"
DEMO = Path(__file__).resolve().parents[1] / "agents" / "langgraph_demo.py"
# The test graphs, and the demo graph of `PLANE=langgraph make run` as `demo`.
TEST_GRAPHS = {**{name: f"{GRAPHS}:{name}" for name in ("echo", "fail", "sleep", "report")}, "demo": f"{DEMO}:echo"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def langgraph_command() -> Path:
    """`langgraph` of .venv-langgraph (scripts/lib.sh ensure_langgraph_venv: the server keeps
    its own pins apart from ours), else of this environment."""
    for command in (ROOT / ".venv-langgraph" / "bin" / "langgraph", Path(sys.executable).parent / "langgraph"):
        if command.exists():
            return command
    raise RuntimeError(
        "`langgraph` (langgraph-cli[inmem], the `langgraph` extra) is not installed: "
        "scripts/test.sh installs it in .venv-langgraph"
    )


def write_config(folder: Path, graphs: dict[str, str]) -> Path:
    config = {
        "dependencies": ["."],
        "graphs": graphs,
        # Loopback webhooks (our test web server) are refused unless said so.
        "webhooks": {"url": {"disable_loopback": False, "require_https": False}},
    }
    path = folder / "langgraph.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def server_env() -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LANGSMITH_", "LANGCHAIN_", "LANGGRAPH_"))}
    # Offline: no analytics, no tracing to LangSmith.
    env.update(LANGGRAPH_CLI_NO_ANALYTICS="1", LANGSMITH_TRACING="false", PYTHONDONTWRITEBYTECODE="1")
    return env


class LangGraphServer(polling.LoggedProcess):
    def __init__(self, folder: Path, graphs: dict[str, str] | None = None, *, jobs: int = 10, name: str = "langgraph"):
        self.name = name
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.graphs = graphs or TEST_GRAPHS
        self.jobs = jobs
        self.port = free_port()
        self.log_path = self.folder / "server.log"
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline: float = 60.0) -> LangGraphServer:
        config = write_config(self.folder, self.graphs)
        cmd = [
            str(langgraph_command()), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1",
            "--port", str(self.port), "--config", str(config), "--n-jobs-per-worker", str(self.jobs),
        ]  # fmt: skip
        self._log = self.log_path.open("w")
        # Its own process group: stop() ends the server and whatever it started.
        self.proc = subprocess.Popen(
            cmd, cwd=self.folder, env=server_env(), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        polling.wait_until(self._ok, deadline=deadline, interval=0.2, what="langgraph dev to answer /ok", procs=[self])
        return self

    def _ok(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/ok", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                # Its graceful shutdown waits for running graphs; a test server's state is thrown away.
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()

    # --- reading the server's own record (the tests' oracle) --------------------------------

    def get(self, path: str, **params):
        query = "&".join(f"{key}={value}" for key, value in params.items())
        with urllib.request.urlopen(f"{self.url}{path}{'?' + query if query else ''}", timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict):
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def runs_of(self, thread_id: str) -> list[dict]:
        return self.get(f"/threads/{thread_id}/runs", limit=100)

    def threads_with(self, **metadata) -> list[dict]:
        """Threads whose metadata has these values (up to 1,000)."""
        return self.post("/threads/search", {"metadata": metadata, "limit": 1000})


def start_in(folder: Path, **kwargs) -> LangGraphServer:
    """A started server in `folder` (fresh: an old `.langgraph_api` would bring old threads back)."""
    state = Path(folder) / ".langgraph_api"
    if state.exists():
        raise RuntimeError(f"{state} exists: give each server a fresh folder")
    server = LangGraphServer(folder, **kwargs)
    started = time.monotonic()
    server.start()
    server.started_in = time.monotonic() - started
    return server
