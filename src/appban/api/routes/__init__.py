"""The API's routes, one module per resource; `v1` gathers those under `/api/v1`, which all need a token."""

from fastapi import APIRouter

from appban.api.errors import responses
from appban.api.routes import (
    adoptions,
    assessments,
    audit,
    devices,
    exemptions,
    findings,
    health,
    inventory,
    metrics,
    organisations,
    reports,
    restrictions,
    tokens,
)

__all__ = ["operations", "v1"]

v1 = APIRouter(prefix="/api/v1", responses=responses(401, 403, 413, 422, 429, 503))
for module in (organisations, devices, restrictions, adoptions, exemptions, findings, reports, inventory, tokens,
               audit, assessments):
    v1.include_router(module.router)

operations = APIRouter()
operations.include_router(health.router)
operations.include_router(metrics.router)
