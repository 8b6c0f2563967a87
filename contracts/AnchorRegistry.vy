# pragma version ~=0.4.1
"""
@title AnchorRegistry
@notice Append-only record of Merkle tree heads (RFC 9162 roots) of livetrust logs.
@dev One transaction anchors any number of events: only the tree head is stored, and only
     what verification needs: one slot per anchor, root -> packed (index, log id, tree size,
     block timestamp), answering "is this root on chain, for which tree size, since when".
     Reading by index (auditors walking the anchors in order) goes through the `Anchored`
     event, whose `index` is indexed: a second storage slot per anchor would cost 22,100
     gas more, for data the log already holds on chain. A root can be anchored once, which
     makes a retried anchor idempotent (the client reads the existing record instead).
"""

event Anchored:
    log_id: indexed(uint256)
    index: indexed(uint256)
    root: indexed(bytes32)
    tree_size: uint256
    timestamp: uint256

event AnchorerChanged:
    account: indexed(address)
    allowed: bool

event AdminChanged:
    previous: indexed(address)
    admin: indexed(address)

struct Anchor:
    index: uint256
    log_id: uint256
    tree_size: uint256
    root: bytes32
    timestamp: uint256

admin: public(address)
is_anchorer: public(HashMap[address, bool])
anchor_count: public(uint256)

# bits 192..255: index + 1 (0 = absent) | 128..191: log id | 64..127: tree size | 0..63: timestamp
_meta: HashMap[bytes32, uint256]

MASK64: constant(uint256) = 2**64 - 1


@deploy
def __init__():
    self.admin = msg.sender
    self.is_anchorer[msg.sender] = True
    log AdminChanged(previous=empty(address), admin=msg.sender)
    log AnchorerChanged(account=msg.sender, allowed=True)


@external
def set_anchorer(account: address, allowed: bool):
    assert msg.sender == self.admin, "not admin"
    self.is_anchorer[account] = allowed
    log AnchorerChanged(account=account, allowed=allowed)


@external
def transfer_admin(new_admin: address):
    assert msg.sender == self.admin, "not admin"
    assert new_admin != empty(address), "zero admin"
    log AdminChanged(previous=self.admin, admin=new_admin)
    self.admin = new_admin


@external
def anchor(log_id: uint64, tree_size: uint64, root: bytes32) -> uint256:
    """
    @notice Record a tree head. Reverts "already anchored" for a known root.
    @return the anchor's index
    """
    assert self.is_anchorer[msg.sender], "not anchorer"
    assert root != empty(bytes32), "empty root"
    assert tree_size != 0, "empty tree"
    assert self._meta[root] == 0, "already anchored"
    index: uint256 = self.anchor_count
    self._meta[root] = (
        ((index + 1) << 192)
        | (convert(log_id, uint256) << 128)
        | (convert(tree_size, uint256) << 64)
        | block.timestamp
    )
    self.anchor_count = index + 1
    log Anchored(
        log_id=convert(log_id, uint256),
        index=index,
        root=root,
        tree_size=convert(tree_size, uint256),
        timestamp=block.timestamp,
    )
    return index


@view
@internal
def _unpack(root: bytes32, packed: uint256) -> Anchor:
    return Anchor(
        index=(packed >> 192) - 1,
        log_id=(packed >> 128) & MASK64,
        tree_size=(packed >> 64) & MASK64,
        root=root,
        timestamp=packed & MASK64,
    )


@view
@external
def by_root(root: bytes32) -> Anchor:
    """@notice Reverts "unknown root" when the root was never anchored."""
    packed: uint256 = self._meta[root]
    assert packed != 0, "unknown root"
    return self._unpack(root, packed)


@view
@external
def is_anchored(root: bytes32) -> bool:
    return self._meta[root] != 0
