"""The app skeleton: health, chain status, OpenAPI, and JSON errors with stable codes."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_health_and_docs(client: TestClient) -> None:
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    schema = client.get("/openapi.json").json()
    assert "/api/v1/chain" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_chain_status(client: TestClient) -> None:
    doc = client.get("/api/v1/chain").json()
    assert doc["rpc"] == "embedded"
    assert set(doc["contracts"]) >= {"AnchorRegistry", "ActorRegistry"}


def test_unknown_route_is_json_with_code(client: TestClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
