"""``livetrust actor|event|batch|proof|log ...`` and ``livetrust anchor``: the provenance ledger.

Thin commands: parse, call ``provenance``, print (rich for people, ``--json`` for scripts).
A failed verdict exits with status 2 after printing it, so scripts can branch on either.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from services.cli._output import USER_ERROR_EXIT, console, emit, fail, user_errors
from services.config import Settings

__all__ = ["actor_app", "anchor", "batch_app", "event_app", "log_app", "proof_app"]

actor_app = typer.Typer(
    help="Actors: keys in LIVETRUST_HOME, registered on chain.", no_args_is_help=True
)
event_app = typer.Typer(help="EPCIS 2.0 events: import, hash, export.", no_args_is_help=True)
batch_app = typer.Typer(help="Batches: verify, proof bundle, recall trace.", no_args_is_help=True)
proof_app = typer.Typer(help="Proof bundles: verify offline against a chain.", no_args_is_help=True)
log_app = typer.Typer(
    help="The Merkle log: head and audit of anchored history.", no_args_is_help=True
)

JSON_OPT = typer.Option(False, "--json", help="machine-readable output")
PROFILE_OPT = typer.Option("chilled_produce", "--profile", help="product profile (steps, range)")
DOC_ARG = typer.Argument(..., help="EPCIS 2.0 JSON/JSON-LD document")
BATCH_ARG = typer.Argument(..., help="batch id (LGTIN/SGTIN/SSCC URN or GS1 Digital Link URI)")
OUTPUT_OPT = typer.Option(..., "-o", "--output", help="file to write")
BUNDLE_ARG = typer.Argument(..., help="proof bundle written by `livetrust batch proof`")


def key_path(settings: Settings, actor: str) -> Path:
    return settings.home / "keys" / f"{actor}.pem"


@dataclass
class _Ctx:
    settings: Settings
    chain: Any
    ledger: Any


@contextlib.contextmanager
def _ledger(settings: Settings | None = None) -> Iterator[_Ctx]:
    from contracts import Chain
    from provenance import Ledger, Store

    s = settings or Settings()
    store = Store.open(s.db_url)
    try:
        with Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key) as chain:
            yield _Ctx(s, chain, Ledger(store, chain.actors))
    finally:
        store.close()


def _print_verdict(v: dict[str, Any]) -> None:
    colour = "green" if v["ok"] else "red"
    console.print(
        f"[bold {colour}]{'OK' if v['ok'] else 'FAILED'}[/] batch {v['batch']}: "
        f"{v['events']} events, anchored: {v['anchored']}"
    )
    for f in v["findings"]:
        event = f" {f['event'][:40]}…" if f["event"] else ""
        console.print(f"  [red]{f['code']}[/]{event}: {f['detail']}", highlight=False)
    for o in v.get("origin_evidence", []):  # issue 8: the farm's origin camera
        mark = "[green]verified[/]" if o["verified"] else "[red]NOT verified[/]"
        console.print(
            f"  origin video of {o['farm']} ({o['device']}), {o['start']}..{o['end']}: {mark}"
        )
        for f in o["findings"]:
            console.print(f"    [red]{f['code']}[/]: {f['detail']}", highlight=False)


# -- actors -----------------------------------------------------------------------------------


@actor_app.command("add")
def actor_add(
    name: str = typer.Argument(..., help="actor id, e.g. farm-green-valley"),
    role: str = typer.Option(
        ..., "--role", help="farm|processor|logistics|retailer|qc|streamer|arbiter"
    ),
    valid_from: int = typer.Option(0, "--valid-from", help="unix time the key becomes valid"),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a key for NAME, store it in LIVETRUST_HOME/keys and register it on chain."""
    from provenance import KeyPair, Role
    from provenance._store import ACTORS

    try:
        parsed_role = Role.parse(role)
    except ValueError as exc:
        fail("bad_role", str(exc), json_out)
    with user_errors(json_out), _ledger() as ctx:
        path = key_path(ctx.settings, name)
        key = KeyPair.load(path) if path.exists() else KeyPair.generate()
        onchain = ctx.chain.actors.keys(name)
        mine = [k for k in onchain if bytes(k.public_key) == key.public_key]
        if onchain and not (mine and mine[0].role == parsed_role):
            fail(
                "actor_exists",
                f"actor {name!r} is already registered with another key or role",
                json_out,
            )
        if mine:  # already done (a re-run): idempotent, no second transaction
            index, tx_hash = mine[0].index, None
            with ctx.ledger.store.read() as conn:
                row = conn.execute(ACTORS.select().where(ACTORS.c.id == name)).first()
            tx_hash = row.registration_tx if row is not None else None
        else:
            receipt = ctx.chain.actors.register(name, key.public_key, parsed_role, valid_from)
            index, tx_hash = len(onchain), receipt.tx_hash
            key.save(path)
            with ctx.ledger.store.begin() as conn:
                conn.execute(ACTORS.delete().where(ACTORS.c.id == name))
                conn.execute(
                    ACTORS.insert().values(
                        id=name,
                        role=int(parsed_role),
                        public_key=key.public_key,
                        key_index=index,
                        registration_tx=tx_hash,
                        created_at=int(time.time()),
                    )
                )
    emit(
        {
            "id": name,
            "public_key": key.public_key.hex(),
            "role": parsed_role.label,
            "key_index": index,
            "tx_hash": tx_hash,
        },
        json_out,
    )


@actor_app.command("list")
def actor_list(json_out: bool = JSON_OPT) -> None:
    """Actors with keys in this home, with their on-chain keys."""
    from provenance import Role
    from provenance._store import ACTORS

    with user_errors(json_out), _ledger() as ctx:
        with ctx.ledger.store.read() as conn:
            rows = conn.execute(ACTORS.select().order_by(ACTORS.c.id)).all()
        out = [
            {
                "id": r.id,
                "role": Role(r.role).label,
                "public_key": bytes(r.public_key).hex(),
                "key_index": r.key_index,
                "on_chain_keys": len(ctx.chain.actors.keys(r.id)),
            }
            for r in rows
        ]
    emit(out, json_out)


# -- events -----------------------------------------------------------------------------------


def _read_doc(path: Path, json_out: bool) -> Any:
    from provenance import parse_document

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail("unreadable", f"cannot read {path}: {exc.strerror}", json_out)
    with user_errors(json_out):
        return parse_document(text)


@event_app.command("import")
def event_import(
    doc: Path = DOC_ARG,
    actor: str = typer.Option(..., "--as", help="actor whose key signs the events"),
    json_out: bool = JSON_OPT,
) -> None:
    """Sign every event of DOC as ACTOR and record them (all or nothing)."""
    from provenance import KeyPair, Signer

    events = _read_doc(doc, json_out)
    with user_errors(json_out), _ledger() as ctx:
        key = KeyPair.load(key_path(ctx.settings, actor))
        results = ctx.ledger.ingest(events, Signer(actor, key))
    data = {
        "imported": len(results),
        "events": [
            {"hash_id": r.hash_id, "seq": r.seq, "batches": list(r.batches)} for r in results
        ],
    }

    def human(d: dict[str, Any]) -> None:
        console.print(f"imported {d['imported']} events as {actor}")
        for e in d["events"]:
            console.print(f"  #{e['seq']} {e['hash_id']}  {', '.join(e['batches'])}")

    emit(data, json_out, human)


@event_app.command("hash")
def event_hash(
    doc: Path = DOC_ARG,
    json_out: bool = JSON_OPT,
) -> None:
    """Print the CBV 2.0 Event Hash IDs of DOC's events without importing anything."""
    events = _read_doc(doc, json_out)
    data = [{"index": i, "type": e.type, "hash_id": e.hash_id} for i, e in enumerate(events)]

    def human(d: list[dict[str, Any]]) -> None:
        for e in d:
            console.print(f"{e['index']:>3} {e['type']:<20} {e['hash_id']}")

    emit(data, json_out, human)


@event_app.command("export")
def event_export(
    batch: str = BATCH_ARG,
    output: Path = OUTPUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Write the batch's history as an EPCIS 2.0 JSON-LD document."""
    from provenance import to_document

    with user_errors(json_out), _ledger() as ctx:
        story = ctx.ledger.story(batch)
    output.write_text(json.dumps(to_document([s.event for s in story]), indent=2) + "\n")
    emit({"batch": batch, "events": len(story), "output": str(output)}, json_out)


# -- batches ----------------------------------------------------------------------------------


def _profile(name: str, json_out: bool) -> Any:
    from provenance import PROFILES

    if name not in PROFILES:
        fail(
            "unknown_profile", f"unknown profile {name!r} (one of: {', '.join(PROFILES)})", json_out
        )
    return PROFILES[name]


@batch_app.command("verify")
def batch_verify(
    batch: str = BATCH_ARG,
    profile: str = PROFILE_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Every check on BATCH (signatures, roles, chains, quantities, cold chain, anchors),
    and any origin-camera video linked to it."""
    from provenance import verify_batch

    prof = _profile(profile, json_out)
    from services._origin import batch_origin_report

    with user_errors(json_out), _ledger() as ctx:
        verdict = verify_batch(ctx.ledger, batch, ctx.chain.anchors, prof).to_json()
        origin = batch_origin_report(ctx.ledger, batch, ctx.chain.anchors)
    if origin:  # only batches with a linked origin camera carry the key
        verdict["origin_evidence"] = origin
    emit(verdict, json_out, _print_verdict)
    if not verdict["ok"] or not all(o["verified"] for o in origin):
        raise typer.Exit(USER_ERROR_EXIT)


@batch_app.command("proof")
def batch_proof(
    batch: str = BATCH_ARG,
    output: Path = OUTPUT_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Write BATCH's self-contained proof bundle (verify it with ``livetrust proof verify``)."""
    from provenance import build_bundle, bundle_bytes, bundle_gzip, chain_reference

    with user_errors(json_out), _ledger() as ctx:
        bundle = build_bundle(ctx.ledger, batch, chain_reference(ctx.chain))
    plain = bundle_bytes(bundle)
    data = bundle_gzip(bundle) if output.name.endswith(".gz") else plain
    output.write_bytes(data)
    emit(
        {
            "batch": bundle["batch"],
            "events": len(bundle["events"]),
            "anchored": bundle["tree_head"] is not None,
            "bytes": len(data),
            "json_bytes": len(plain),
            "output": str(output),
        },
        json_out,
    )


@batch_app.command("trace")
def batch_trace(
    batch: str = BATCH_ARG,
    json_out: bool = JSON_OPT,
) -> None:
    """Recall lineage: origins and farms backward, packs, pallets, shipments, retailers forward."""
    from provenance import trace_batch

    with user_errors(json_out), _ledger() as ctx:
        data = trace_batch(ctx.ledger, batch, ctx.chain.anchors)

    def human(d: dict[str, Any]) -> None:
        console.print(f"[bold]batch[/] {d['batch']}")
        console.print(f"origins  {', '.join(d['backward']['origins'])}")
        console.print(f"farms    {', '.join(d['backward']['farms']) or '-'}")
        console.print(f"forward  {', '.join(d['forward']['lots']) or '-'}")
        console.print(f"retailers {', '.join(d['forward']['retailers']) or '-'}")
        for e in d["events"]:
            console.print(
                f"  #{e['seq']:<4} {e['biz_step'] or '-':<14} {e['actor']:<22} {e['proof']}"
            )

    emit(data, json_out, human)


# -- bundles, log, anchoring --------------------------------------------------------------------


@proof_app.command("verify")
def proof_verify(
    bundle: Path = BUNDLE_ARG,
    rpc: str | None = typer.Option(
        None, "--rpc", help="chain to check against (default LIVETRUST_RPC)"
    ),
    profile: str = PROFILE_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Check a proof bundle using only the chain: no database is opened.

    With an http(s) node the verifier attaches to the registries the bundle names (after
    checking the node is that chain), never to contracts of its own.
    """
    prof = _profile(profile, json_out)
    s = Settings()
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        fail("unreadable", f"cannot read {bundle}: {exc.strerror}", json_out)
    target = rpc or s.rpc
    with user_errors(json_out):
        if target == "embedded":  # the local chain lives in LIVETRUST_HOME
            verdict = _verify_on(data, target, s.home, s.cache, prof, json_out)
        else:
            with tempfile.TemporaryDirectory(prefix="livetrust-verify-") as tmp:
                verdict = _verify_on(data, target, Path(tmp), s.cache, prof, json_out)
    emit(verdict, json_out, _print_verdict)
    if not verdict["ok"]:
        raise typer.Exit(USER_ERROR_EXIT)


def _verify_on(
    data: bytes, rpc: str, home: Path, cache: Path, prof: Any, json_out: bool
) -> dict[str, Any]:
    from contracts import Chain
    from provenance import bundle_chain, chain_reference, verify_bundle

    named = bundle_chain(data)
    if named is not None and rpc != "embedded":
        # attach to the bundle's registries: the chain layer reads them from deployments.json
        deployments = home / "chain" / "deployments.json"
        deployments.parent.mkdir(parents=True, exist_ok=True)
        key = f"{named['chain_id']}:{named['genesis_hash']}"
        deployments.write_text(
            json.dumps(
                {
                    key: {
                        "AnchorRegistry": {"address": named["anchor_registry"]},
                        "ActorRegistry": {"address": named["actor_registry"]},
                    }
                }
            )
        )
    with Chain.connect(rpc, home, cache=cache) as chain:
        if named is not None and (
            int(chain.chain_id) != named["chain_id"]
            or str(chain.genesis_hash) != named["genesis_hash"]
        ):
            fail(
                "chain_mismatch",
                f"the bundle was anchored on chain {named['chain_id']} "
                f"(genesis {named['genesis_hash'][:18]}…); {rpc} is chain {chain.chain_id}",
                json_out,
            )
        ref = chain_reference(chain)
        result: dict[str, Any] = verify_bundle(
            data, chain.actors, chain.anchors, prof, chain=ref
        ).to_json()
        return result


@log_app.command("head")
def log_head(json_out: bool = JSON_OPT) -> None:
    """The log's current tree head and its latest anchor."""
    from provenance._anchor import latest_anchor

    with user_errors(json_out), _ledger() as ctx:
        head = ctx.ledger.head()
        anchored = latest_anchor(ctx.ledger)
    emit(
        {
            "log_id": ctx.ledger.log_id,
            "tree_size": head.tree_size,
            "root": head.root.hex(),
            "anchored": anchored.to_json() if anchored else None,
        },
        json_out,
    )


@log_app.command("audit")
def log_audit(json_out: bool = JSON_OPT) -> None:
    """Audit the whole log: stored records and Merkle nodes against the leaves, per-batch
    hash chains, every recorded tree head and every anchor on chain (exit 2 on a finding)."""
    from provenance import audit_log

    with user_errors(json_out), _ledger() as ctx:
        report = audit_log(ctx.ledger, ctx.chain.anchors).to_json()

    def human(d: dict[str, Any]) -> None:
        state = "[green]consistent[/]" if d["ok"] else "[red]INCONSISTENT[/]"
        console.print(
            f"{d['events']} events, {d['lots']} batches, {d['recorded']} recorded heads, "
            f"{d['anchors']} anchors on chain, {d['pending']} pending: {state}"
        )
        for f in d["findings"]:
            console.print(f"  [red]{f['code']}[/]: {f['detail']}", highlight=False)

    emit(report, json_out, human)
    if not report["ok"]:
        raise typer.Exit(USER_ERROR_EXIT)


def anchor(json_out: bool = JSON_OPT) -> None:
    """Anchor the log's current tree head on chain (one transaction for all new events)."""
    from provenance import Anchorer

    with user_errors(json_out), _ledger() as ctx:
        result = Anchorer(ctx.ledger, ctx.chain.anchors).anchor().to_json()

    def human(d: dict[str, Any]) -> None:
        if d["status"] == "anchored":
            console.print(
                f"anchored {d['new_events']} new events: size {d['tree_size']} root "
                f"{d['root'][:16]}… tx {d['tx_hash']} (anchor #{d['index']})"
            )
        else:
            console.print(f"nothing to anchor ({d['status']})")
        if d["recovered"]:
            console.print(f"settled {d['recovered']} anchor(s) left by an interrupted run")

    emit(result, json_out, human)
