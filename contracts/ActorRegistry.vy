# pragma version ~=0.4.1
"""
@title ActorRegistry
@notice On-chain persona registration: actor id -> Ed25519 public keys with a role and a
        validity period, with key rotation and revocation by a registrar.
@dev Verifiers ask one question: "was this key valid for this role at time T?"
     (`key_valid_at`). Keys are versioned, never overwritten: rotation closes the current
     key at the new key's valid_from and appends the new one, so signatures made before a
     rotation still verify. Revocation marks a key invalid from a given time on (a
     compromised key can be revoked back to the moment of compromise).
     Roles: 1 farm, 2 processor, 3 logistics, 4 retailer, 5 qc, 6 streamer, 7 arbiter.
"""

MAX_KEYS: constant(uint256) = 32
MAX_ROLE: constant(uint8) = 7

struct KeyRecord:
    public_key: bytes32
    role: uint8
    valid_from: uint64
    valid_until: uint64  # 0 = open-ended
    revoked_at: uint64  # 0 = not revoked

event ActorRegistered:
    actor_id: indexed(bytes32)
    name: String[64]
    role: uint8
    public_key: bytes32
    valid_from: uint64
    valid_until: uint64

event KeyRotated:
    actor_id: indexed(bytes32)
    key_index: uint256
    public_key: bytes32
    valid_from: uint64
    valid_until: uint64

event KeyRevoked:
    actor_id: indexed(bytes32)
    key_index: uint256
    revoked_at: uint64

event RegistrarChanged:
    account: indexed(address)
    allowed: bool

event AdminChanged:
    previous: indexed(address)
    admin: indexed(address)

admin: public(address)
is_registrar: public(HashMap[address, bool])
actor_count: public(uint256)
actor_at: public(HashMap[uint256, bytes32])
key_count: public(HashMap[bytes32, uint256])
_keys: HashMap[bytes32, HashMap[uint256, KeyRecord]]


@deploy
def __init__():
    self.admin = msg.sender
    self.is_registrar[msg.sender] = True
    log AdminChanged(previous=empty(address), admin=msg.sender)
    log RegistrarChanged(account=msg.sender, allowed=True)


@external
def set_registrar(account: address, allowed: bool):
    assert msg.sender == self.admin, "not admin"
    self.is_registrar[account] = allowed
    log RegistrarChanged(account=account, allowed=allowed)


@external
def transfer_admin(new_admin: address):
    assert msg.sender == self.admin, "not admin"
    assert new_admin != empty(address), "zero admin"
    log AdminChanged(previous=self.admin, admin=new_admin)
    self.admin = new_admin


@internal
def _check_period(valid_from: uint64, valid_until: uint64):
    assert valid_until == 0 or valid_until > valid_from, "bad validity period"


@external
def register(
    actor_id: bytes32,
    name: String[64],
    public_key: bytes32,
    role: uint8,
    valid_from: uint64,
    valid_until: uint64,
):
    assert self.is_registrar[msg.sender], "not registrar"
    assert actor_id != empty(bytes32), "empty actor id"
    assert public_key != empty(bytes32), "empty key"
    assert role >= 1 and role <= MAX_ROLE, "bad role"
    assert self.key_count[actor_id] == 0, "actor exists"
    self._check_period(valid_from, valid_until)
    self._keys[actor_id][0] = KeyRecord(
        public_key=public_key,
        role=role,
        valid_from=valid_from,
        valid_until=valid_until,
        revoked_at=0,
    )
    self.key_count[actor_id] = 1
    self.actor_at[self.actor_count] = actor_id
    self.actor_count += 1
    log ActorRegistered(
        actor_id=actor_id,
        name=name,
        role=role,
        public_key=public_key,
        valid_from=valid_from,
        valid_until=valid_until,
    )


@external
def rotate_key(actor_id: bytes32, public_key: bytes32, valid_from: uint64, valid_until: uint64):
    """@notice Append a new key (same role); the previous key stops at `valid_from`."""
    assert self.is_registrar[msg.sender], "not registrar"
    count: uint256 = self.key_count[actor_id]
    assert count != 0, "unknown actor"
    assert count < MAX_KEYS, "too many keys"
    assert public_key != empty(bytes32), "empty key"
    self._check_period(valid_from, valid_until)
    previous: KeyRecord = self._keys[actor_id][count - 1]
    assert valid_from > previous.valid_from, "rotation before current key"
    if previous.valid_until == 0 or previous.valid_until > valid_from:
        self._keys[actor_id][count - 1].valid_until = valid_from
    self._keys[actor_id][count] = KeyRecord(
        public_key=public_key,
        role=previous.role,
        valid_from=valid_from,
        valid_until=valid_until,
        revoked_at=0,
    )
    self.key_count[actor_id] = count + 1
    log KeyRotated(
        actor_id=actor_id,
        key_index=count,
        public_key=public_key,
        valid_from=valid_from,
        valid_until=valid_until,
    )


@external
def revoke(actor_id: bytes32, key_index: uint256, at: uint64):
    """@notice The key is invalid from `at` on (0 = now). An earlier revocation stands."""
    assert self.is_registrar[msg.sender], "not registrar"
    assert key_index < self.key_count[actor_id], "unknown key"
    when: uint64 = at
    if when == 0:
        when = convert(block.timestamp, uint64)
    current: uint64 = self._keys[actor_id][key_index].revoked_at
    if current == 0 or when < current:
        self._keys[actor_id][key_index].revoked_at = when
    log KeyRevoked(actor_id=actor_id, key_index=key_index, revoked_at=when)


@view
@external
def get_key(actor_id: bytes32, key_index: uint256) -> KeyRecord:
    assert key_index < self.key_count[actor_id], "unknown key"
    return self._keys[actor_id][key_index]


@view
@external
def key_valid_at(actor_id: bytes32, public_key: bytes32, role: uint8, t: uint64) -> bool:
    """@notice True if `public_key` was a non-revoked key of `actor_id` with `role` at `t`."""
    count: uint256 = self.key_count[actor_id]
    for i: uint256 in range(MAX_KEYS):
        if i >= count:
            break
        k: KeyRecord = self._keys[actor_id][i]
        if k.public_key != public_key or k.role != role:
            continue
        if t < k.valid_from:
            continue
        if k.valid_until != 0 and t >= k.valid_until:
            continue
        if k.revoked_at != 0 and t >= k.revoked_at:
            continue
        return True
    return False
