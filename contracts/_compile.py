"""Compile the Vyper sources with the ``vyper`` package, cached by source hash.

A cache entry is keyed by sha256(compiler version, EVM version, source), so a second start
does not recompile and a changed source or compiler never reuses stale bytecode.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from contracts._errors import CompileError

__all__ = ["EVM_VERSION", "SOURCES", "Compiled", "compile_contract", "contract_names"]

SOURCES = Path(__file__).parent
# Cancun: transient storage for reentrancy locks; run by py-evm (Prague VM) and anvil alike.
# An external chain on an older fork sets LIVETRUST_EVM_VERSION (e.g. "shanghai").
EVM_VERSION = os.environ.get("LIVETRUST_EVM_VERSION", "cancun")


@dataclass(frozen=True)
class Compiled:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # deployment code, 0x-prefixed
    runtime: str  # runtime code, 0x-prefixed
    source_hash: str


def contract_names() -> list[str]:
    return sorted(p.stem for p in SOURCES.glob("*.vy"))


def _key(source: str) -> str:
    # the installed version from package metadata: importing vyper itself costs ~0.3 s,
    # which a cache hit should not pay
    h = hashlib.sha256()
    for part in (metadata.version("vyper"), EVM_VERSION, source):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def compile_contract(name: str, cache: Path | None = None) -> Compiled:
    """Compiled output of ``contracts/<name>.vy``, from the cache when the source is unchanged."""
    path = SOURCES / f"{name}.vy"
    if not path.is_file():
        raise CompileError(f"no contract source {path.name} (have: {', '.join(contract_names())})")
    source = path.read_text()
    return _compile_cached(name, source, str(cache) if cache else None)


@lru_cache(maxsize=32)
def _compile_cached(name: str, source: str, cache: str | None) -> Compiled:
    key = _key(source)
    entry = Path(cache) / f"{name}-{key[:24]}.json" if cache else None
    if entry is not None and entry.is_file():
        try:
            doc = json.loads(entry.read_text())
            return Compiled(name, doc["abi"], doc["bytecode"], doc["runtime"], key)
        except (ValueError, KeyError):
            entry.unlink(missing_ok=True)  # a torn cache file is just a miss
    compiled = _compile(name, source, key)
    if entry is not None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        # write-then-rename: a concurrent reader never sees half a file
        fd, tmp = tempfile.mkstemp(dir=entry.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(
                {"abi": compiled.abi, "bytecode": compiled.bytecode, "runtime": compiled.runtime},
                fh,
            )
        os.replace(tmp, entry)
    return compiled


def _compile(name: str, source: str, key: str) -> Compiled:
    import vyper
    from vyper.compiler.settings import Settings as VyperSettings

    try:
        out = vyper.compile_code(
            source,
            contract_path=f"{name}.vy",
            output_formats=["abi", "bytecode", "bytecode_runtime"],
            settings=VyperSettings(evm_version=EVM_VERSION),
        )
    except Exception as exc:  # vyper raises many unrelated types; translate once, here
        raise CompileError(f"{name}.vy does not compile: {exc}") from exc
    return Compiled(name, out["abi"], out["bytecode"], out["bytecode_runtime"], key)
