"""Settings of the web service only (everything else reads ``services.config.Settings``).

Read from ``LIVETRUST_*`` environment variables like the shared settings.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVETRUST_", extra="ignore", frozen=True)

    anchor_interval_s: float = Field(
        default=0.0,
        description="run the anchoring loop every N seconds (0 = off; `livetrust serve` "
        "deployments usually set 60)",
    )
    admin_key: str | None = Field(
        default=None,
        description="registrar API key for POST /api/v1/actors; default: generated on first "
        "start and written to LIVETRUST_HOME/admin.key (mode 0600)",
    )
    public_url: str | None = Field(
        default=None,
        description="base URL printed in QR codes (default: the URL the request came in on)",
    )
    key_cache_ttl_s: float = Field(
        default=60.0,
        description="how long verifiers cache an actor's on-chain keys (reads only; request "
        "authentication always asks the chain)",
    )
