"""``/api/v1/actors``: registration by the registrar (admin key) and the public directory."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.api._auth import issue_api_key
from services.api._deps import AdminDep, RuntimeDep
from services.api._errors import ApiError

router = APIRouter(prefix="/actors", tags=["actors"])

# Actor ids name key files in LIVETRUST_HOME/keys and fit ActorRegistry's String[64].
ACTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ROLES = ("farm", "processor", "logistics", "retailer", "qc", "streamer", "arbiter")


class ActorCreate(BaseModel):
    id: str = Field(pattern=ACTOR_ID.pattern, description="e.g. farm-green-valley")
    role: str = Field(pattern="^(" + "|".join(ROLES) + ")$")
    valid_from: int = Field(
        default=0, ge=0, lt=2**63, description="unix time the key is valid from"
    )


class ActorCreated(BaseModel):
    id: str
    role: str
    public_key: str
    key_index: int
    tx_hash: str | None
    api_key: str = Field(description="shown once; only its SHA-256 is stored")


class KeyPublic(BaseModel):
    index: int
    public_key: str
    role: str
    valid_from: int
    valid_until: int
    revoked_at: int


class ActorPublic(BaseModel):
    id: str
    role: str
    public_key: str
    key_index: int
    registration_tx: str | None


class ActorKeys(BaseModel):
    id: str
    keys: list[KeyPublic]


@router.post("", response_model=ActorCreated, status_code=201, summary="Register an actor")
def register_actor(body: ActorCreate, rt: RuntimeDep, _: AdminDep) -> ActorCreated:
    """Registrar only (``Authorization: Bearer <admin key>``). Creates the actor's Ed25519
    key (kept by the service in ``LIVETRUST_HOME/keys``: events are signed custodially, as
    the CLI does), registers it on chain with the role, and returns an API key once."""
    from provenance import KeyPair, Role
    from provenance._store import ACTORS

    role = Role.parse(body.role)
    path = rt.settings.home / "keys" / f"{body.id}.pem"
    with rt.chain_lock:
        if rt.chain.actors.keys(body.id) or path.exists():
            raise ApiError("conflict", f"actor {body.id!r} is already registered")
        key = KeyPair.generate()
        receipt = rt.chain.actors.register(body.id, key.public_key, role, body.valid_from)
    key.save(path)
    with rt.store.begin() as conn:
        conn.execute(ACTORS.delete().where(ACTORS.c.id == body.id))
        conn.execute(
            ACTORS.insert().values(
                id=body.id,
                role=int(role),
                public_key=key.public_key,
                key_index=0,
                registration_tx=receipt.tx_hash,
                created_at=int(time.time()),
            )
        )
    return ActorCreated(
        id=body.id,
        role=role.label,
        public_key=key.public_key.hex(),
        key_index=0,
        tx_hash=receipt.tx_hash,
        api_key=issue_api_key(rt.store, body.id),
    )


@router.get("", response_model=list[ActorPublic], summary="Actors registered through this service")
def list_actors(rt: RuntimeDep) -> list[ActorPublic]:
    from provenance import Role
    from provenance._store import ACTORS

    with rt.store.read() as conn:
        rows = conn.execute(select(ACTORS).order_by(ACTORS.c.id)).all()
    return [
        ActorPublic(
            id=r.id,
            role=Role(r.role).label,
            public_key=bytes(r.public_key).hex(),
            key_index=int(r.key_index),
            registration_tx=r.registration_tx,
        )
        for r in rows
    ]


@router.get("/{actor_id}", response_model=ActorKeys, summary="An actor's keys on chain")
def actor_keys(actor_id: str, rt: RuntimeDep) -> ActorKeys:
    """Public: the ActorRegistry's record (keys, role, validity, revocation)."""
    records: list[Any] = list(rt.directory.keys(actor_id)) if ACTOR_ID.match(actor_id) else []
    if not records:
        raise ApiError("unknown_actor", f"actor {actor_id!r} is not registered")
    return ActorKeys(
        id=actor_id,
        keys=[
            KeyPublic(
                index=k.index,
                public_key=bytes(k.public_key).hex(),
                role=k.role.label,
                valid_from=k.valid_from,
                valid_until=k.valid_until,
                revoked_at=k.revoked_at,
            )
            for k in records
        ],
    )
