from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.api import create_app
from services.config import Settings


@pytest.fixture
def api_settings(tmp_path: Path, compile_cache: Path) -> Settings:
    return Settings(home=tmp_path / "home", cache=compile_cache)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as c:
        yield c
