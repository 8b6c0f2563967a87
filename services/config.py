"""One settings object for the whole system (pydantic-settings).

Read from environment variables (``LIVETRUST_*``) and an optional ``livetrust.toml`` in the
working directory, so a deployment changes behaviour by configuration, never by code.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings"]


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "livetrust"


class Settings(BaseSettings):
    """Where data lives, which chain and database to talk to, and how the web service runs."""

    model_config = SettingsConfigDict(
        env_prefix="LIVETRUST_", toml_file="livetrust.toml", extra="ignore", frozen=True
    )

    home: Path = Field(default=Path(".livetrust"), description="data dir: keys, db, chain")
    db: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    rpc: str = Field(default="embedded", description="'embedded' or an http(s):// JSON-RPC URL")
    cache: Path = Field(default_factory=_default_cache, description="compiled-contract cache")
    chain_key: str | None = Field(
        default=None,
        description="hex private key that signs transactions on an external node; "
        "default: the node's first unlocked account",
    )

    # -- web service (`livetrust serve`, services/api) -----------------------------------------
    anchor_interval_s: float = Field(
        default=0.0,
        ge=0,
        description="run the anchoring loop every N seconds (0 = off; `livetrust serve` "
        "deployments usually set 60)",
    )
    admin_key: str | None = Field(
        default=None,
        description="registrar API key for POST /api/v1/actors; default: generated on first "
        "start and shown once, only its salted hash kept in LIVETRUST_HOME/admin.key (0600)",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL printed in QR codes (default: the URL the request came in on)",
    )
    key_cache_ttl_s: float = Field(
        default=60.0,
        ge=0,
        description="how long verifiers cache an actor's on-chain keys (reads only; request "
        "authentication always asks the chain)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    @cached_property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{(self.home / 'livetrust.db').resolve()}"
