"""The s0005 (persona) migration creates exactly the tables the modules define, and is safe to
run after ``metadata.create_all`` created them first."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import MetaData, create_engine

from services import _conduct, _persona

MIGRATION = Path(__file__).resolve().parents[2] / "services/migrations/versions/s0005_persona.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("s0005_persona", MIGRATION)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ours() -> MetaData:
    md = MetaData()
    for table in (_persona.PERSONAS, _conduct.SCREENINGS):
        table.to_metadata(md)
    return md


def test_migration_matches_the_modules(tmp_path: Path) -> None:
    mod = _load()
    assert (mod.revision, mod.down_revision) == ("s0005", "s0004")
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as conn:
        with Operations.context(MigrationContext.configure(conn)):
            mod.upgrade()
        assert compare_metadata(MigrationContext.configure(conn), _ours()) == []
        with Operations.context(MigrationContext.configure(conn)):
            mod.downgrade()


def test_upgrade_after_create_all_is_a_no_op(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    _ours().create_all(engine)
    with engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        _load().upgrade()
