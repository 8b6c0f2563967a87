# pragma version ~=0.4.1
"""
@title DisputeEscrow
@notice Buyer money is held by this contract, not by the platform. Sellers post bonds that
        fund penalties; authorised arbiters rule on disputes with a ruling code, and the
        payout table turns the code into a refund share and a penalty taken from the
        seller's bond ("fake one, pay three"). Every state has a way out by timeout, so no
        funds are ever stuck, and everything is paid by pull (`withdraw`).
@dev    States: CREATED -> PAID -> SHIPPED -> DELIVERED -> RELEASED, with DISPUTED -> RULED
        -> (appeal window) -> SETTLED, REFUNDED (not shipped in time) and CANCELLED (not paid
        in time). Timeouts: not paid by deadline -> cancelled; not shipped by ship_by ->
        buyer refund; buyer silent after the confirm window -> release to seller; arbiter
        silent past the ruling window -> default ruling.
        Evidence follows ERC-1497 (Dispute, Evidence events; Ruling as in ERC-792).
        Storage is packed by hand (three slots per order, one per bond) to keep opening an
        order under 120k gas.
        Pause stops money coming in (new orders, payments, bonds) and new rulings; every
        exit (confirm, refunds, releases, settlement, withdrawals) stays open.
"""

# --- states -------------------------------------------------------------------------------
ST_NONE: constant(uint256) = 0  # never stored: unknown order ids read as this
CREATED: constant(uint256) = 1
PAID: constant(uint256) = 2
SHIPPED: constant(uint256) = 3
DELIVERED: constant(uint256) = 4
RELEASED: constant(uint256) = 5
DISPUTED: constant(uint256) = 6
RULED: constant(uint256) = 7
SETTLED: constant(uint256) = 8
REFUNDED: constant(uint256) = 9
CANCELLED: constant(uint256) = 10

# --- tiers (circuit breaker) ----------------------------------------------------------------
TIER_NORMAL: constant(uint8) = 0
TIER_WARN: constant(uint8) = 1
TIER_RESTRICTED: constant(uint8) = 2
TIER_SUSPENDED: constant(uint8) = 3

BPS: constant(uint256) = 10000
# Largest penalty any ruling may take, as a multiple of the price in basis points (3x:
# "fake one, pay three"). Each order locks price * MAX_PENALTY_BPS of the seller's bond, so
# a penalty is always funded.
MAX_PENALTY_BPS: constant(uint256) = 30000
MAX_WINDOW: constant(uint256) = 365 * 86400
MAX_APPEALS: constant(uint256) = 1
MASK64: constant(uint256) = 2**64 - 1
MASK128: constant(uint256) = 2**128 - 1
MASK160: constant(uint256) = 2**160 - 1

struct Payout:
    refund_bps: uint256
    penalty_bps: uint256
    enabled: bool

struct Order:
    buyer: address
    seller: address
    price: uint256
    state: uint256
    ruling: uint256
    reason: uint256
    appeals: uint256
    ship_by: uint256
    deliver_by: uint256
    deadline: uint256

# --- events -------------------------------------------------------------------------------
event OrderCreated:
    order_id: indexed(uint256)
    buyer: indexed(address)
    seller: indexed(address)
    price: uint256
    ship_by: uint256
    deliver_by: uint256

event OrderPaid:
    order_id: indexed(uint256)
    price: uint256

event OrderShipped:
    order_id: indexed(uint256)
    deliver_by: uint256

event OrderDelivered:
    order_id: indexed(uint256)
    by: address
    confirm_by: uint256

event OrderReleased:
    order_id: indexed(uint256)
    by_timeout: bool

event OrderRefunded:
    order_id: indexed(uint256)
    amount: uint256

event OrderCancelled:
    order_id: indexed(uint256)

# ERC-1497 / ERC-792 style
event Dispute:
    arbitrator: indexed(address)
    dispute_id: indexed(uint256)
    meta_evidence_id: uint256
    evidence_group_id: uint256
    reason: uint256

event Evidence:
    arbitrator: indexed(address)
    evidence_group_id: indexed(uint256)
    party: indexed(address)
    evidence_hash: bytes32
    evidence: String[256]

event Ruling:
    arbitrator: indexed(address)
    dispute_id: indexed(uint256)
    ruling: uint256
    evidence_hash: bytes32
    appeal_by: uint256

event Appealed:
    order_id: indexed(uint256)
    by: address
    rule_by: uint256

event Settled:
    order_id: indexed(uint256)
    ruling: uint256
    to_buyer: uint256
    to_seller: uint256
    penalty: uint256

event BondChanged:
    seller: indexed(address)
    total: uint256
    locked: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event TierChanged:
    seller: indexed(address)
    tier: uint8
    evidence_hash: bytes32

event RoleChanged:
    role: String[16]
    account: indexed(address)
    allowed: bool

event PayoutSet:
    code: indexed(uint256)
    refund_bps: uint256
    penalty_bps: uint256
    enabled: bool

event ParamsChanged:
    pay_window: uint256
    confirm_window: uint256
    rule_window: uint256
    appeal_window: uint256
    restricted_cap: uint256
    default_ruling: uint256

event PauseChanged:
    paused: bool

# --- storage ------------------------------------------------------------------------------
admin: public(address)
paused: public(bool)
is_arbiter: public(HashMap[address, bool])
is_oracle: public(HashMap[address, bool])
tier: public(HashMap[address, uint8])
credit: public(HashMap[address, uint256])
order_count: public(uint256)
payout: public(HashMap[uint256, Payout])

pay_window: public(uint256)
confirm_window: public(uint256)
rule_window: public(uint256)
appeal_window: public(uint256)
restricted_cap: public(uint256)
default_ruling: public(uint256)

# packed order: _oa = buyer | state << 160 | ruling << 168 | appeals << 176 | reason << 184
#               _ob = seller | ship_by << 160
#               _oc = price | deliver_by << 128 | deadline << 192
_oa: HashMap[uint256, uint256]
_ob: HashMap[uint256, uint256]
_oc: HashMap[uint256, uint256]
# packed bond: total | locked << 128
_bond: HashMap[address, uint256]


@deploy
def __init__(
    pay_window: uint256,
    confirm_window: uint256,
    rule_window: uint256,
    appeal_window: uint256,
    restricted_cap: uint256,
):
    self.admin = msg.sender
    self.is_arbiter[msg.sender] = True
    self.is_oracle[msg.sender] = True
    self._set_params(pay_window, confirm_window, rule_window, appeal_window, restricted_cap, 2)
    # default payout table (codes documented in docs/disputes.md)
    self._set_payout(1, 0, 0, True)  # no fault: seller paid in full
    self._set_payout(2, 10000, 0, True)  # full refund
    self._set_payout(3, 2000, 0, True)  # late delivery: 20% back
    self._set_payout(4, 10000, 10000, True)  # quality failure (cold chain, failed QC): refund + 1x
    self._set_payout(5, 10000, 30000, True)  # counterfeit / false origin: refund + 3x
    self._set_payout(6, 5000, 10000, True)  # misleading claim in broadcast: half back + 1x
    log RoleChanged(role="arbiter", account=msg.sender, allowed=True)
    log RoleChanged(role="oracle", account=msg.sender, allowed=True)


# --- packing ------------------------------------------------------------------------------
@view
@internal
def _load(order_id: uint256) -> Order:
    a: uint256 = self._oa[order_id]
    b: uint256 = self._ob[order_id]
    c: uint256 = self._oc[order_id]
    return Order(
        buyer=convert(convert(a & MASK160, uint160), address),
        seller=convert(convert(b & MASK160, uint160), address),
        price=c & MASK128,
        state=(a >> 160) & 255,
        ruling=(a >> 168) & 255,
        reason=(a >> 184) & 255,
        appeals=(a >> 176) & 255,
        ship_by=(b >> 160) & MASK64,
        deliver_by=(c >> 128) & MASK64,
        deadline=c >> 192,
    )


@internal
def _store(order_id: uint256, o: Order):
    self._oa[order_id] = (
        convert(convert(o.buyer, uint160), uint256)
        | (o.state << 160)
        | (o.ruling << 168)
        | (o.appeals << 176)
        | (o.reason << 184)
    )
    self._ob[order_id] = convert(convert(o.seller, uint160), uint256) | (o.ship_by << 160)
    self._oc[order_id] = o.price | (o.deliver_by << 128) | (o.deadline << 192)


@internal
def _set_state(order_id: uint256, o: Order, state: uint256, deadline: uint256):
    # only the two words that change: keeps transitions cheap
    self._oa[order_id] = (
        convert(convert(o.buyer, uint160), uint256)
        | (state << 160)
        | (o.ruling << 168)
        | (o.appeals << 176)
        | (o.reason << 184)
    )
    if deadline != o.deadline:
        self._oc[order_id] = o.price | (o.deliver_by << 128) | (deadline << 192)


@view
@internal
def _lock_of(price: uint256) -> uint256:
    return price * MAX_PENALTY_BPS // BPS


@internal
def _change_bond(seller: address, add_total: uint256, sub_total: uint256, add_lock: uint256, sub_lock: uint256):
    packed: uint256 = self._bond[seller]
    total: uint256 = (packed & MASK128) + add_total - sub_total
    locked: uint256 = (packed >> 128) + add_lock - sub_lock
    assert locked <= total, "bond too small"
    assert total <= MASK128, "bond overflow"
    self._bond[seller] = total | (locked << 128)
    log BondChanged(seller=seller, total=total, locked=locked)


# --- views --------------------------------------------------------------------------------
@view
@external
def get_order(order_id: uint256) -> Order:
    assert order_id < self.order_count, "unknown order"
    return self._load(order_id)


@view
@external
def bond_of(seller: address) -> (uint256, uint256):
    """@return (total, locked)"""
    packed: uint256 = self._bond[seller]
    return packed & MASK128, packed >> 128


@view
@external
def escrowed(order_id: uint256) -> uint256:
    """@notice Buyer money the contract holds for this order now."""
    o: Order = self._load(order_id)
    if o.state >= PAID and o.state <= RULED and o.state != RELEASED:
        return o.price
    return 0


# --- admin --------------------------------------------------------------------------------
@internal
def _only_admin():
    assert msg.sender == self.admin, "not admin"


@internal
def _set_payout(code: uint256, refund_bps: uint256, penalty_bps: uint256, enabled: bool):
    assert code >= 1 and code <= 255, "bad code"
    assert refund_bps <= BPS, "refund over 100%"
    assert penalty_bps <= MAX_PENALTY_BPS, "penalty over cap"
    self.payout[code] = Payout(refund_bps=refund_bps, penalty_bps=penalty_bps, enabled=enabled)
    log PayoutSet(code=code, refund_bps=refund_bps, penalty_bps=penalty_bps, enabled=enabled)


@internal
def _set_params(pay_w: uint256, confirm_w: uint256, rule_w: uint256, appeal_w: uint256, cap: uint256, default_code: uint256):
    for w: uint256 in [pay_w, confirm_w, rule_w, appeal_w]:
        assert w > 0 and w <= MAX_WINDOW, "bad window"
    self.pay_window = pay_w
    self.confirm_window = confirm_w
    self.rule_window = rule_w
    self.appeal_window = appeal_w
    self.restricted_cap = cap
    self.default_ruling = default_code
    log ParamsChanged(
        pay_window=pay_w,
        confirm_window=confirm_w,
        rule_window=rule_w,
        appeal_window=appeal_w,
        restricted_cap=cap,
        default_ruling=default_code,
    )


@external
def set_payout(code: uint256, refund_bps: uint256, penalty_bps: uint256, enabled: bool):
    self._only_admin()
    self._set_payout(code, refund_bps, penalty_bps, enabled)


@external
def set_params(pay_w: uint256, confirm_w: uint256, rule_w: uint256, appeal_w: uint256, cap: uint256, default_code: uint256):
    self._only_admin()
    assert self.payout[default_code].enabled, "default ruling not in table"
    self._set_params(pay_w, confirm_w, rule_w, appeal_w, cap, default_code)


@external
def set_arbiter(account: address, allowed: bool):
    self._only_admin()
    self.is_arbiter[account] = allowed
    log RoleChanged(role="arbiter", account=account, allowed=allowed)


@external
def set_oracle(account: address, allowed: bool):
    self._only_admin()
    self.is_oracle[account] = allowed
    log RoleChanged(role="oracle", account=account, allowed=allowed)


@external
def transfer_admin(new_admin: address):
    self._only_admin()
    assert new_admin != empty(address), "zero admin"
    self.admin = new_admin
    log RoleChanged(role="admin", account=new_admin, allowed=True)


@external
def set_paused(paused: bool):
    self._only_admin()
    self.paused = paused
    log PauseChanged(paused=paused)


@external
def set_tier(seller: address, tier: uint8, evidence_hash: bytes32):
    """@notice The circuit breaker, written by the oracle from complaint rates."""
    assert self.is_oracle[msg.sender], "not oracle"
    assert tier <= TIER_SUSPENDED, "bad tier"
    self.tier[seller] = tier
    log TierChanged(seller=seller, tier=tier, evidence_hash=evidence_hash)


# --- bonds --------------------------------------------------------------------------------
@external
@payable
@nonreentrant
def post_bond():
    assert not self.paused, "paused"
    assert msg.value > 0, "no value"
    self._change_bond(msg.sender, msg.value, 0, 0, 0)


@external
@nonreentrant
def withdraw_bond(amount: uint256):
    """@notice Move the unlocked part of a bond to the seller's withdrawable credit."""
    self._change_bond(msg.sender, 0, amount, 0, 0)
    self.credit[msg.sender] += amount


# --- orders -------------------------------------------------------------------------------
@internal
def _admit(seller: address, price: uint256):
    assert not self.paused, "paused"
    t: uint8 = self.tier[seller]
    assert t != TIER_SUSPENDED, "seller suspended"
    if t == TIER_RESTRICTED:
        assert price <= self.restricted_cap, "over restricted cap"


@internal
def _windows(ship_window: uint256, delivery_window: uint256) -> (uint256, uint256):
    assert ship_window > 0 and ship_window <= MAX_WINDOW, "bad ship window"
    assert delivery_window > 0 and delivery_window <= MAX_WINDOW, "bad delivery window"
    ship_by: uint256 = block.timestamp + ship_window
    return ship_by, ship_by + delivery_window


@external
@payable
@nonreentrant
def open_order(seller: address, ship_window: uint256, delivery_window: uint256) -> uint256:
    """@notice Buyer creates and pays an order in one transaction; the price is msg.value."""
    assert msg.value > 0 and msg.value <= MASK128, "bad price"
    assert seller != msg.sender and seller != empty(address), "bad seller"
    self._admit(seller, msg.value)
    ship_by: uint256 = 0
    deliver_by: uint256 = 0
    ship_by, deliver_by = self._windows(ship_window, delivery_window)
    self._change_bond(seller, 0, 0, self._lock_of(msg.value), 0)
    order_id: uint256 = self.order_count
    self.order_count = order_id + 1
    self._store(order_id, Order(
        buyer=msg.sender, seller=seller, price=msg.value, state=PAID, ruling=0, reason=0,
        appeals=0, ship_by=ship_by, deliver_by=deliver_by, deadline=ship_by,
    ))
    log OrderCreated(order_id=order_id, buyer=msg.sender, seller=seller, price=msg.value, ship_by=ship_by, deliver_by=deliver_by)
    log OrderPaid(order_id=order_id, price=msg.value)
    return order_id


@external
@nonreentrant
def create_order(buyer: address, price: uint256, ship_window: uint256, delivery_window: uint256) -> uint256:
    """@notice Seller quotes an order; the buyer pays it with `pay` before the pay window ends.
    Shipping windows start at payment."""
    assert not self.paused, "paused"
    assert price > 0 and price <= MASK128, "bad price"
    assert buyer != msg.sender and buyer != empty(address), "bad buyer"
    self._windows(ship_window, delivery_window)
    order_id: uint256 = self.order_count
    self.order_count = order_id + 1
    self._store(order_id, Order(
        buyer=buyer, seller=msg.sender, price=price, state=CREATED, ruling=0, reason=0,
        appeals=0, ship_by=ship_window, deliver_by=delivery_window,
        deadline=block.timestamp + self.pay_window,
    ))
    log OrderCreated(order_id=order_id, buyer=buyer, seller=msg.sender, price=price, ship_by=0, deliver_by=0)
    return order_id


@external
@payable
@nonreentrant
def pay(order_id: uint256):
    o: Order = self._load(order_id)
    assert o.state == CREATED, "not payable"
    assert msg.sender == o.buyer, "not buyer"
    assert block.timestamp <= o.deadline, "pay window over"
    assert msg.value == o.price, "wrong amount"
    self._admit(o.seller, o.price)
    self._change_bond(o.seller, 0, 0, self._lock_of(o.price), 0)
    o.ship_by, o.deliver_by = self._windows(o.ship_by, o.deliver_by)
    o.state = PAID
    o.deadline = o.ship_by
    self._store(order_id, o)
    log OrderPaid(order_id=order_id, price=o.price)


@external
@nonreentrant
def cancel_unpaid(order_id: uint256):
    o: Order = self._load(order_id)
    assert o.state == CREATED, "not cancellable"
    assert block.timestamp > o.deadline or msg.sender == o.buyer or msg.sender == o.seller, "too early"
    self._set_state(order_id, o, CANCELLED, o.deadline)
    log OrderCancelled(order_id=order_id)


@external
@nonreentrant
def ship(order_id: uint256):
    o: Order = self._load(order_id)
    assert o.state == PAID, "not paid"
    assert msg.sender == o.seller, "not seller"
    assert block.timestamp <= o.ship_by, "ship deadline passed"
    # buyer may dispute until the promised delivery time plus the confirm window
    self._set_state(order_id, o, SHIPPED, o.deliver_by + self.confirm_window)
    log OrderShipped(order_id=order_id, deliver_by=o.deliver_by)


@external
@nonreentrant
def mark_delivered(order_id: uint256):
    """@notice Seller or oracle (from a provenance receive event) records delivery."""
    o: Order = self._load(order_id)
    assert o.state == SHIPPED, "not shipped"
    assert msg.sender == o.seller or self.is_oracle[msg.sender], "not seller or oracle"
    confirm_by: uint256 = block.timestamp + self.confirm_window
    self._set_state(order_id, o, DELIVERED, confirm_by)
    log OrderDelivered(order_id=order_id, by=msg.sender, confirm_by=confirm_by)


@internal
def _release(order_id: uint256, o: Order, by_timeout: bool):
    self._set_state(order_id, o, RELEASED, o.deadline)
    self._change_bond(o.seller, 0, 0, 0, self._lock_of(o.price))
    self.credit[o.seller] += o.price
    log OrderReleased(order_id=order_id, by_timeout=by_timeout)


@external
@nonreentrant
def confirm(order_id: uint256):
    """@notice Buyer accepts the goods: the seller is paid."""
    o: Order = self._load(order_id)
    assert o.state == SHIPPED or o.state == DELIVERED, "not confirmable"
    assert msg.sender == o.buyer, "not buyer"
    self._release(order_id, o, False)


@external
@nonreentrant
def release_expired(order_id: uint256):
    """@notice Anyone: buyer silent past the confirm window -> release to seller."""
    o: Order = self._load(order_id)
    assert o.state == SHIPPED or o.state == DELIVERED, "not releasable"
    assert block.timestamp > o.deadline, "too early"
    self._release(order_id, o, True)


@external
@nonreentrant
def refund_unshipped(order_id: uint256):
    """@notice Anyone: not shipped by the deadline -> full refund to the buyer."""
    o: Order = self._load(order_id)
    assert o.state == PAID, "not refundable"
    assert block.timestamp > o.ship_by or msg.sender == o.seller, "too early"
    self._set_state(order_id, o, REFUNDED, o.deadline)
    self._change_bond(o.seller, 0, 0, 0, self._lock_of(o.price))
    self.credit[o.buyer] += o.price
    log OrderRefunded(order_id=order_id, amount=o.price)


# --- disputes -----------------------------------------------------------------------------
@external
@nonreentrant
def dispute(order_id: uint256, reason: uint256, evidence_hash: bytes32, evidence: String[256]):
    """@notice Buyer opens a dispute while the order is open (before its timeout)."""
    o: Order = self._load(order_id)
    assert msg.sender == o.buyer, "not buyer"
    assert o.state == PAID or o.state == SHIPPED or o.state == DELIVERED, "not disputable"
    assert block.timestamp <= o.deadline, "dispute window over"
    assert reason <= 255, "bad reason"
    o.reason = reason
    o.state = DISPUTED
    o.deadline = block.timestamp + self.rule_window
    self._store(order_id, o)
    log Dispute(arbitrator=self, dispute_id=order_id, meta_evidence_id=order_id, evidence_group_id=order_id, reason=reason)
    log Evidence(arbitrator=self, evidence_group_id=order_id, party=msg.sender, evidence_hash=evidence_hash, evidence=evidence)


@external
def submit_evidence(order_id: uint256, evidence_hash: bytes32, evidence: String[256]):
    o: Order = self._load(order_id)
    assert o.state == DISPUTED or o.state == RULED, "no open dispute"
    assert msg.sender == o.buyer or msg.sender == o.seller or self.is_arbiter[msg.sender], "not a party"
    log Evidence(arbitrator=self, evidence_group_id=order_id, party=msg.sender, evidence_hash=evidence_hash, evidence=evidence)


@internal
def _rule(order_id: uint256, o: Order, code: uint256, evidence_hash: bytes32):
    assert self.payout[code].enabled, "unknown ruling"
    o.ruling = code
    o.state = RULED
    o.deadline = block.timestamp + self.appeal_window
    self._store(order_id, o)
    log Ruling(arbitrator=msg.sender, dispute_id=order_id, ruling=code, evidence_hash=evidence_hash, appeal_by=o.deadline)


@external
@nonreentrant
def rule(order_id: uint256, code: uint256, evidence_hash: bytes32):
    """@notice An authorised arbiter rules; `evidence_hash` commits to what it relied on."""
    assert not self.paused, "paused"
    assert self.is_arbiter[msg.sender], "not arbiter"
    o: Order = self._load(order_id)
    assert o.state == DISPUTED, "not disputed"
    self._rule(order_id, o, code, evidence_hash)


@external
@nonreentrant
def default_rule(order_id: uint256):
    """@notice Anyone: the arbiter stayed silent past the ruling window -> default ruling."""
    o: Order = self._load(order_id)
    assert o.state == DISPUTED, "not disputed"
    assert block.timestamp > o.deadline, "too early"
    self._rule(order_id, o, self.default_ruling, empty(bytes32))


@external
@nonreentrant
def appeal(order_id: uint256):
    o: Order = self._load(order_id)
    assert o.state == RULED, "not ruled"
    assert msg.sender == o.buyer or msg.sender == o.seller, "not a party"
    assert block.timestamp <= o.deadline, "appeal window over"
    assert o.appeals < MAX_APPEALS, "no appeals left"
    o.appeals += 1
    o.state = DISPUTED
    o.deadline = block.timestamp + self.rule_window
    self._store(order_id, o)
    log Appealed(order_id=order_id, by=msg.sender, rule_by=o.deadline)


@external
@nonreentrant
def settle(order_id: uint256):
    """@notice Anyone, after the appeal window: pay out the ruling from escrow and bond."""
    o: Order = self._load(order_id)
    assert o.state == RULED, "not ruled"
    assert block.timestamp > o.deadline, "appeal window open"
    p: Payout = self.payout[o.ruling]
    refund: uint256 = o.price * p.refund_bps // BPS
    penalty: uint256 = o.price * p.penalty_bps // BPS
    self._set_state(order_id, o, SETTLED, o.deadline)
    # penalty <= lock by construction (penalty_bps <= MAX_PENALTY_BPS)
    self._change_bond(o.seller, 0, penalty, 0, self._lock_of(o.price))
    self.credit[o.buyer] += refund + penalty
    if o.price > refund:
        self.credit[o.seller] += o.price - refund
    log Settled(order_id=order_id, ruling=o.ruling, to_buyer=refund + penalty, to_seller=o.price - refund, penalty=penalty)


# --- pull payments ------------------------------------------------------------------------
@external
@nonreentrant
def withdraw():
    amount: uint256 = self.credit[msg.sender]
    assert amount > 0, "nothing to withdraw"
    self.credit[msg.sender] = 0
    # full gas so contract wallets (multisigs) can receive; @nonreentrant guards re-entry
    raw_call(msg.sender, b"", value=amount)
    log Withdrawn(account=msg.sender, amount=amount)
