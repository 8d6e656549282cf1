"""The fault table: every scenario's row, printed at the end of the session when FAULTS_TABLE=1
(`make faults`)."""

from __future__ import annotations

import os

import pytest

_ROWS: list = []


@pytest.fixture
def fault_rows():
    return _ROWS


def pytest_terminal_summary(terminalreporter):
    if _ROWS and os.environ.get("FAULTS_TABLE") == "1":
        from tests.faults.harness import table

        terminalreporter.write_sep("=", "fault table")
        terminalreporter.write_line(table(_ROWS))
