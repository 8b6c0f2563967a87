"""``/api/v1/actors``: registration by the registrar (admin key) and the public directory."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from services.api._auth import API_ACCOUNTS, BUYER, account_of, issue_api_key
from services.api._deps import AdminDep, RuntimeDep
from services.api._errors import ApiError

router = APIRouter(prefix="/actors", tags=["actors"])

# Actor ids name key files in LIVETRUST_HOME/keys and fit ActorRegistry's String[64].
ACTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ROLES = ("farm", "processor", "logistics", "retailer", "qc", "streamer", "arbiter")
# A buyer is not a persona on chain: only an API key bound to an escrow account.
ALL_ROLES = (*ROLES, BUYER)


class ActorCreate(BaseModel):
    id: str = Field(pattern=ACTOR_ID.pattern, description="e.g. farm-green-valley")
    role: str = Field(pattern="^(" + "|".join(ALL_ROLES) + ")$")
    valid_from: int = Field(
        default=0, ge=0, lt=2**63, description="unix time the key is valid from"
    )
    account: str | None = Field(
        default=None,
        max_length=42,
        description="escrow account the actor pays, ships or rules from (a 0x address the "
        "node holds unlocked, or its index); required for buyers, sellers and arbiters",
    )


class ActorCreated(BaseModel):
    id: str
    role: str
    public_key: str | None = Field(description="none for a buyer (no persona key)")
    key_index: int | None
    tx_hash: str | None
    account: str | None
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

    path = rt.settings.home / "keys" / f"{body.id}.pem"
    with rt.chain_lock:
        if rt.chain.actors.keys(body.id) or path.exists() or account_of(rt.store, body.id):
            raise ApiError("conflict", f"actor {body.id!r} is already registered")
        account = None if body.account is None else custodial_account(rt, body.account)
        if account is not None:
            _ensure_free(rt, account)
        if body.role == BUYER:
            if account is None:
                raise ApiError("bad_account", "a buyer needs the escrow account it pays from")
            _bind(rt, body.id, account, buyer=True)
            return ActorCreated(
                id=body.id,
                role=BUYER,
                public_key=None,
                key_index=None,
                tx_hash=None,
                account=account,
                api_key=issue_api_key(rt.store, body.id),
            )
        role = Role.parse(body.role)
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
    if account is not None:
        _bind(rt, body.id, account, buyer=False)
    return ActorCreated(
        id=body.id,
        role=role.label,
        public_key=key.public_key.hex(),
        key_index=0,
        tx_hash=receipt.tx_hash,
        account=account,
        api_key=issue_api_key(rt.store, body.id),
    )


def custodial_account(rt: Any, ref: str) -> str:
    """``ref`` as a checksummed address the service can send from: one of the node's
    unlocked accounts or the service's own chain key (the API signs escrow transactions
    custodially, as the CLI does). Caller holds ``chain_lock``."""
    from services._errors import UnknownAccount
    from services._orders import parse_account

    try:
        account = parse_account(rt.chain, ref)
    except UnknownAccount as exc:
        raise ApiError("bad_account", str(exc)) from exc
    if account not in {*rt.chain.accounts, rt.chain.sender}:
        raise ApiError("bad_account", f"the node cannot send from {account} (not unlocked)")
    return account


def _ensure_free(rt: Any, account: str) -> None:
    """One actor per account: the account is who the escrow sees, so sharing it would let
    one actor act as another."""
    with rt.store.read() as conn:
        taken = conn.execute(
            select(API_ACCOUNTS.c.actor_id).where(API_ACCOUNTS.c.account == account)
        ).scalar()
    if taken is not None:
        raise ApiError("conflict", f"account {account} already belongs to {taken!r}")


def _bind(rt: Any, actor: str, account: str, buyer: bool) -> None:
    with rt.store.begin() as conn:
        conn.execute(
            API_ACCOUNTS.insert().values(actor_id=actor, account=account, buyer=int(buyer))
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
