#!/usr/bin/env python3
"""The demo agent of the `local` execution plane: answers a prompt with a Markdown document.

Contract (the local plane's, see docs/execution-plane.md): the payload
`{agent, prompt, output_type, params, metadata}` arrives as JSON on stdin; the result is
written to stdout; exit status 0 means success. A prompt containing the word FAIL exits 1
with a message on stderr, so a demo can show a failed run and its retries; one containing
EMPTY succeeds with no output, so a demo can show a success check failing ("no Markdown
output"). It reports a token count (about 4 characters a token) in the file named by
AGENT_USAGE_FILE, as the local plane's agents may.

Standard library only: it runs as a plain subprocess, without Django.
"""

from __future__ import annotations

import json
import os
import re
import sys

FAIL_WORD = re.compile(r"\bFAIL\b")
EMPTY_WORD = re.compile(r"\bEMPTY\b")


def report_usage(prompt: str, answer: str) -> None:
    path = os.environ.get("AGENT_USAGE_FILE")
    if path:
        usage = {"input_tokens": len(prompt) // 4 + 1, "output_tokens": len(answer) // 4 + 1 if answer else 0}
        with open(path, "w") as handle:
            json.dump(usage, handle)


def render(payload: dict) -> str:
    prompt = str(payload.get("prompt") or "").strip()
    metadata = payload.get("metadata") or {}
    params = payload.get("params") or {}
    lines = [
        f"# Echo: {prompt.splitlines()[0] if prompt else '(empty prompt)'}",
        "",
        "## Prompt",
        "",
        *(f"> {line}" if line else ">" for line in (prompt.splitlines() or [""])),
        "",
        "## Run",
        "",
        f"- Agent: `{payload.get('agent', 'echo')}`",
        f"- Output type: `{payload.get('output_type', 'markdown')}`",
    ]
    for key in ("trigger_type", "scheduled_for", "attempt", "job_run_id"):
        if metadata.get(key) not in (None, ""):
            lines.append(f"- {key.replace('_', ' ').capitalize()}: `{metadata[key]}`")
    if params:
        lines += ["", "## Parameters", "", "```json", json.dumps(params, indent=2, sort_keys=True), "```"]
    words = len(prompt.split())
    lines += ["", f"_The prompt has {words} word{'s' if words != 1 else ''}; this agent only echoes it._", ""]
    return "\n".join(lines)


def main(stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr) -> int:
    try:
        payload = json.loads(stdin.read() or "{}")
    except json.JSONDecodeError as exc:
        print(f"echo agent: stdin is not JSON: {exc}", file=stderr)
        return 2
    if not isinstance(payload, dict):
        print("echo agent: the payload must be a JSON object", file=stderr)
        return 2
    if FAIL_WORD.search(str(payload.get("prompt") or "")):
        print("echo agent: the prompt asked to FAIL, so this run fails (demo)", file=stderr)
        return 1
    answer = "" if EMPTY_WORD.search(str(payload.get("prompt") or "")) else render(payload)
    stdout.write(answer)
    stdout.flush()
    report_usage(str(payload.get("prompt") or ""), answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
