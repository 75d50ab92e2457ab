"""A FastAPI endpoint that sends a Celery task and waits for its result."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from .celery_tasks import summarise

app = FastAPI()


@app.get("/chat")
async def chat() -> dict[str, str]:
    result = summarise.delay("hello")
    return {"reply": await asyncio.to_thread(result.get, timeout=30)}
