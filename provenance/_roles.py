"""Who may sign what: the role table (CBV 2.0 bizStep -> roles allowed to sign it).

The table is the ledger's policy, checked at ingest (reject) and again by every verifier
(finding ``role_not_allowed``), so a bundle signed under a looser policy does not pass. The
role an actor holds comes from the on-chain ActorRegistry, never from the event itself.

Rules of thumb: origin steps belong to the farm; making and packing to the processor; moving
goods, and the temperature logs taken while moving them, to logistics; inspection results
only to the QC lab; receipt at the store, stocking and selling to the retailer (and the
streamer for livestream sales); holds and destruction on recall to the arbiter.
"""

from __future__ import annotations

from collections.abc import Mapping

from contracts import Role

__all__ = ["ROLE_TABLE", "Role", "allowed_roles", "role_may_sign"]


_F, _P, _L, _R, _Q, _S, _A = (
    Role.FARM,
    Role.PROCESSOR,
    Role.LOGISTICS,
    Role.RETAILER,
    Role.QC,
    Role.STREAMER,
    Role.ARBITER,
)

# bizStep (CBV 2.0 bare word) -> roles that may sign it. Documented in docs/provenance.md.
ROLE_TABLE: Mapping[str, frozenset[Role]] = {
    # origin: planting, harvest and first identification of a lot
    "commissioning": frozenset({_F, _P}),
    "creating_class_instance": frozenset({_F, _P}),
    # processing: washing, grading, packing, splitting into packs, palletising
    "packing": frozenset({_P, _R}),
    "repackaging": frozenset({_P, _R}),
    "assembling": frozenset({_P, _L}),
    "disassembling": frozenset({_P, _L, _R}),
    "unpacking": frozenset({_P, _R}),
    "encoding": frozenset({_P}),
    # quality control: only the lab signs inspection results and samples
    "inspecting": frozenset({_Q}),
    "sampling": frozenset({_Q}),
    # logistics: shipping, transport and temperature logs, receipt at a warehouse
    "shipping": frozenset({_L}),
    "departing": frozenset({_L}),
    "transporting": frozenset({_L}),
    "arriving": frozenset({_L}),
    "loading": frozenset({_L}),
    "unloading": frozenset({_L}),
    "staging_outbound": frozenset({_L}),
    "storing": frozenset({_L}),
    "sensor_reporting": frozenset({_L}),
    "receiving": frozenset({_L, _R}),
    "accepting": frozenset({_L, _R}),
    # retail and livestream sales
    "stocking": frozenset({_R}),
    "retail_selling": frozenset({_R, _S}),
    # recall
    "holding": frozenset({_A, _Q}),
    "destroying": frozenset({_A}),
    "decommissioning": frozenset({_A, _R}),
}


def allowed_roles(biz_step: str | None) -> frozenset[Role]:
    """Roles that may sign an event with this bizStep (none for unknown or missing steps)."""
    return ROLE_TABLE.get(biz_step or "", frozenset())


def role_may_sign(role: Role, biz_step: str | None) -> bool:
    return role in allowed_roles(biz_step)
