"""The app skeleton: health, chain status, OpenAPI, and JSON errors with stable codes."""

from __future__ import annotations

from typing import Any

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


def test_web_settings_are_fields_of_the_one_settings_object(monkeypatch: Any) -> None:
    """DESIGN: one settings object; the service's variables are read by it."""
    from services.config import Settings

    monkeypatch.setenv("LIVETRUST_ANCHOR_INTERVAL_S", "60")
    monkeypatch.setenv("LIVETRUST_ADMIN_KEY", "lt_admin_x")
    monkeypatch.setenv("LIVETRUST_PUBLIC_URL", "https://trust.example.com")
    monkeypatch.setenv("LIVETRUST_KEY_CACHE_TTL_S", "5")
    s = Settings()
    assert (s.anchor_interval_s, s.admin_key, s.public_url, s.key_cache_ttl_s) == (
        60.0,
        "lt_admin_x",
        "https://trust.example.com",
        5.0,
    )
