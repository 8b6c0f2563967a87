"""What a running server holds: settings, one chain connection, the stores.

Opened once per process in the app's lifespan. The embedded chain can be owned by one
process only, so multi-worker deployments point ``LIVETRUST_RPC`` at ``livetrust chain
serve`` or an external node; the API itself stays stateless apart from these handles.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from services.config import Settings

if TYPE_CHECKING:
    from contracts import Chain

__all__ = ["Runtime"]


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._chain: Chain | None = None

    @property
    def chain(self) -> Chain:
        """The chain, connected on first use (a server must start even if the node is down)."""
        with self._lock:
            if self._chain is None:
                from contracts import Chain

                s = self.settings
                self._chain = Chain.connect(s.rpc, s.home, cache=s.cache, key=s.chain_key)
            return self._chain

    @cached_property
    def started(self) -> float:
        import time

        return time.time()

    def close(self) -> None:
        with self._lock:
            if self._chain is not None:
                self._chain.close()
                self._chain = None
