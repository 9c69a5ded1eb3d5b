"""`/metrics` (no token): Prometheus text format 0.0.4; see appban.api.metrics for what is measured."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from appban.api.backend import Backend
from appban.api.metrics import CONTENT_TYPE, exposition

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "The Prometheus text exposition format, version 0.0.4."}})
async def metrics(request: Request) -> Response:
    backend: Backend = request.app.state.appban
    text = await run_in_threadpool(_render, backend)
    return Response(text, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


def _render(backend: Backend) -> str:
    extra = backend.extra_metrics() if backend.extra_metrics is not None else ""
    return exposition([backend.requests.lines(), backend.fleet.lines(), _push_lines(backend), extra])


def _push_lines(backend: Backend) -> list[str]:
    """How much grouping small pushes achieved: pushes per batch is their ratio (service.group_commit)."""
    if backend.pushes is None:
        return []
    return ["# HELP appban_push_batches_total Transactions that stored small inventory pushes.",
            "# TYPE appban_push_batches_total counter", f"appban_push_batches_total {backend.pushes.batches}",
            "# HELP appban_pushes_batched_total Small inventory pushes stored in those transactions.",
            "# TYPE appban_pushes_batched_total counter", f"appban_pushes_batched_total {backend.pushes.jobs}"]
