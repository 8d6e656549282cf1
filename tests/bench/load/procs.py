"""CPU time of the load test's processes, from /proc (Linux), to name the bottleneck.

A group is a process and its descendants. PostgreSQL forks a backend per connection, and with
a new connection per request those backends exit within the phase: their CPU is counted
through the parent's `cutime`/`cstime` (children it has waited for) as well as the live ones'.
"""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, waited-for children's CPU seconds), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / TICKS
    children = (int(fields[13]) + int(fields[14])) / TICKS
    return ppid, own, children


def _all() -> dict[int, tuple[int, float, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                out[int(entry)] = stat
    return out


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process tree (live descendants + waited-for ones).
    A tree stops at another named root: the client's children (the servers) are not its CPU."""
    table = _all()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, named = {}, set(roots.values())
    for name, root in roots.items():
        if root not in table:
            out[name] = float("nan")
            continue
        total, stack = table[root][2], [root]
        while stack:
            pid = stack.pop()
            total += table[pid][1]
            stack.extend(child for child in children.get(pid, []) if child not in named)
        out[name] = total
    return out


def postmaster_pid(data_dir: str) -> int | None:
    try:
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
