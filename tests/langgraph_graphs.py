"""Small deterministic graphs the real-server tests run on `langgraph dev` (no LLM, no network).

Loaded by the LangGraph Agent Server, not by Django: only `langgraph` and the standard library.
Chat-style graphs get `{"messages": [{"role": "user", "content": prompt}], "output_type",
"params"}`; the fields-style `report` gets `{"prompt", "output_type", "params"}`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class ChatState(TypedDict, total=False):
    messages: Annotated[list, add_messages]
    output_type: str
    params: dict
    outputs: list


class FieldsState(TypedDict, total=False):
    prompt: str
    output_type: str
    params: dict
    result: str
    outputs: list


def _prompt(state: ChatState) -> str:
    last = state["messages"][-1]
    return str(getattr(last, "content", ""))


def _echo(state: ChatState) -> dict:
    answer = f"# Echo\n\n{_prompt(state)}"
    update: dict = {"messages": [{"role": "assistant", "content": answer}]}
    url = (state.get("params") or {}).get("output_url")
    if url:
        update["outputs"] = [{"type": state.get("output_type") or "pdf", "name": "report.pdf", "url": url}]
    return update


def _fail(state: ChatState) -> dict:
    raise RuntimeError(f"the fail graph always fails (prompt: {_prompt(state)})")


async def _sleep(state: ChatState) -> dict:
    await asyncio.sleep(float((state.get("params") or {}).get("seconds", 30)))
    return {"messages": [{"role": "assistant", "content": "slept"}]}


def _report(state: FieldsState) -> dict:
    params = state.get("params") or {}
    return {
        "result": f"report on {state.get('prompt', '')}",
        "outputs": [{"type": state.get("output_type") or "csv", "name": "report.csv", "url": params.get("url", "")}],
    }


def _one_node(schema, fn):
    builder = StateGraph(schema)
    builder.add_node("agent", fn)
    builder.add_edge(START, "agent")
    builder.add_edge("agent", END)
    return builder.compile()


echo = _one_node(ChatState, _echo)
fail = _one_node(ChatState, _fail)
sleep = _one_node(ChatState, _sleep)
report = _one_node(FieldsState, _report)
