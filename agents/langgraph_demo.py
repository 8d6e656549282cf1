"""The demo agent of `PLANE=langgraph make run`: a LangGraph graph, run by `langgraph dev`.

Deterministic, no LLM: it answers the prompt with the same Markdown document as the local
plane's echo agent (`agents/echo_agent.py`), as an assistant message, so a newcomer sees real
threads and runs on a real Agent Server. A prompt containing the word FAIL raises, so the
demo can show a failed run and its retries. Loaded by the Agent Server, not by Django.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo_agent import FAIL_WORD, render  # noqa: E402


class State(TypedDict, total=False):
    messages: Annotated[list, add_messages]
    output_type: str
    params: dict


def answer(state: State) -> dict:
    prompt = str(getattr(state["messages"][-1], "content", ""))
    if FAIL_WORD.search(prompt):
        raise RuntimeError("the prompt asked to FAIL, so this run fails (demo)")
    payload = {"agent": "echo", "prompt": prompt, "output_type": state.get("output_type"), "params": state.get("params")}
    return {"messages": [{"role": "assistant", "content": render(payload)}]}


builder = StateGraph(State)
builder.add_node("answer", answer)
builder.add_edge(START, "answer")
builder.add_edge("answer", END)
echo = builder.compile()
