# pragma version ~=0.4.1
# A malicious buyer: when paid, it tries to call back into the escrow.

interface Escrow:
    def open_order(seller: address, ship_window: uint256, delivery_window: uint256) -> uint256: payable
    def refund_unshipped(order_id: uint256): nonpayable
    def withdraw(): nonpayable
    def settle(order_id: uint256): nonpayable

target: public(Escrow)
mode: public(uint256)  # 0 = behave, 1 = re-enter withdraw, 2 = re-enter settle
order: public(uint256)


@deploy
def __init__(target: address):
    self.target = Escrow(target)


@external
@payable
def buy(seller: address) -> uint256:
    self.order = extcall self.target.open_order(seller, 100, 100, value=msg.value)
    return self.order


@external
def set_mode(mode: uint256):
    self.mode = mode


@external
def pull():
    extcall self.target.withdraw()


@external
@payable
def __default__():
    if self.mode == 1:
        extcall self.target.withdraw()
    elif self.mode == 2:
        extcall self.target.settle(self.order)
