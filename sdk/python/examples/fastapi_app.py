"""A FastAPI app tracking the catalog's events with otelcol_analytics.

    pip install fastapi uvicorn
    PYTHONPATH=sdk/python ANALYTICS_TRACK_ENDPOINT=localhost:8091 uvicorn fastapi_app:app

The tracker is the shared module-level one (as in the seed); the lifespan
starts it and, at shutdown, sends what is still buffered.
"""

import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI

from otelcol_analytics import stats, tracker


@asynccontextmanager
async def lifespan(app: FastAPI):
    await tracker.start()
    yield
    await tracker.stop()  # flushes; waits at most shutdown_timeout


app = FastAPI(lifespan=lifespan)


@app.post("/chat/{session_id}/start")
async def start_chat(session_id: str, customer_id: str = "", channel: str = "web"):
    # The seed's call, unchanged:
    await tracker.track("session.start", {"session_id": session_id, "customer_id": customer_id, "channel": channel})
    return {"session_id": session_id}


@app.post("/chat/{session_id}/message")
async def chat_message(session_id: str, text: str):
    started = time.monotonic()
    answer = "echo: " + text  # the AI's answer would be computed here
    # The typed helper: the catalog's required attributes are keyword arguments.
    await tracker.session_message(session_id=session_id, response_time_ms=(time.monotonic() - started) * 1000)
    return {"answer": answer}


@app.post("/chat/{session_id}/end")
async def end_chat(session_id: str, resolved_by: str = "ai", duration_seconds: float = 0.0):
    await tracker.session_end(session_id=session_id, resolved_by=resolved_by, duration_seconds=duration_seconds)
    return {"ok": True}


@app.post("/tickets")
async def create_ticket(source: str = "chat", priority: str = "normal"):
    ticket_id = "t-" + uuid.uuid4().hex[:8]
    await tracker.ticket_created(ticket_id=ticket_id, source=source, priority=priority)
    return {"ticket_id": ticket_id}


@app.get("/api/analytics/case-study")
async def case_study(month: str):
    # The seed's BusinessStats.get_case_study_data(), served by the collector's stats service.
    return await stats.get_case_study_data(month)


@app.get("/healthz")
async def healthz():
    return {"tracker": tracker.stats()}
