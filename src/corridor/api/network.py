"""GET /api/v1/network: locations and links, the same JSON as `corridor network show --json`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from ..cli.network import network_json
from .deps import Principal, principal

router = APIRouter(prefix="/api/v1", tags=["network"])


@router.get("/network", summary="The corridor network: locations and links")
def get_network(request: Request, _: Principal = Depends(principal)) -> dict:
    """Every location (code, name, country, timezone, kind, lat, lon) and link of the network."""
    return network_json(request.app.state.network())
