"""Liveness, readiness and Prometheus metrics: unauthenticated, outside `/api`."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from integration_hub.web.admin.deps import HubDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(hub: HubDep) -> JSONResponse:
    checks = await hub.readiness()
    return JSONResponse(
        {"ready": all(checks.values()), **checks},
        status_code=200 if all(checks.values()) else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
