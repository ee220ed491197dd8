"""JSON request bodies refuse fields they do not know (422, the field named) on both stores.

A typo such as `"replce": true` or `"scope": [...]` used to be dropped without a word and the default
taken in its place; every body model in corridor.api now shares api.bodies.StrictBody."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from test_ingest_api import api  # noqa: F401 - the same app and keys (admin, PORTAKTAU)


def _notice() -> dict:
    start = datetime.now(timezone.utc) + timedelta(days=400)   # beyond the timetable: touches nothing
    return {"kind": "works", "location": "KZAAU", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=6)).isoformat(), "text": "crane maintenance"}


# (endpoint, who posts, a valid body, the misspelt field added to it)
CASES = [
    ("/api/v1/parties", "admin", {"id": "NEWCO", "name": "New Co", "roles": ["shipper"]}, "edi_id"),
    ("/api/v1/keys", "admin", {"party_id": "PORTAKTAU", "label": "gate"}, "scope"),
    ("/api/v1/aliases", "admin", {"kind": "party", "value": "KZAKTAU01", "target": "PORTAKTAU"}, "replce"),
    ("/api/v1/notices", "PORTAKTAU", _notice(), "delay_hour"),
]


@pytest.mark.parametrize("path, who, body, typo", CASES, ids=[c[0].rsplit("/", 1)[1] for c in CASES])
def test_an_unknown_field_is_refused_and_named(api, path, who, body, typo):
    r = api.post(path, json={**body, typo: True}, headers=api.keys[who])
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert ["body", typo] in [e["loc"] for e in doc["errors"]]
    assert f"body.{typo}: Extra inputs are not permitted" in doc["detail"]


@pytest.mark.parametrize("path, who, body, typo", CASES, ids=[c[0].rsplit("/", 1)[1] for c in CASES])
def test_the_valid_body_still_works(api, path, who, body, typo):
    r = api.post(path, json=body, headers=api.keys[who])
    assert r.status_code == 201, r.text


def test_a_refused_body_changes_nothing(api):
    admin = api.keys["admin"]
    assert api.post("/api/v1/parties", json={"id": "TYPO", "name": "Typo", "roles": ["shipper"], "rolse": []},
                    headers=admin).status_code == 422
    assert "TYPO" not in {p["id"] for p in api.get("/api/v1/parties", headers=admin).json()}
    before = len(api.get("/api/v1/keys?party_id=PORTAKTAU", headers=admin).json())
    assert api.post("/api/v1/keys", json={"party_id": "PORTAKTAU", "expires": "2030-01-01T00:00:00Z"},
                    headers=admin).status_code == 422
    assert len(api.get("/api/v1/keys?party_id=PORTAKTAU", headers=admin).json()) == before
