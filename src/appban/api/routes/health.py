"""`/healthz` (no token): ready, degraded or down, with the reasons, for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from appban.api.backend import Backend
from appban.api.health import DOWN, check_health

__all__ = ["HealthOut", "router"]

router = APIRouter(tags=["operations"])


class HealthOut(BaseModel):
    status: str  # ready | degraded | down
    reasons: list[str]


@router.get("/healthz", response_model=HealthOut, summary="Ready (200), degraded (200) or down (503)",
            responses={503: {"model": HealthOut, "description": "Down: nothing useful can be answered."}})
async def healthz(request: Request) -> JSONResponse:
    backend: Backend = request.app.state.appban
    report = await run_in_threadpool(check_health, backend.database, backend.health)
    body = HealthOut(status=report.status, reasons=list(report.reasons))
    return JSONResponse(body.model_dump(), status_code=503 if report.status == DOWN else 200,
                        headers={"Cache-Control": "no-store"})
