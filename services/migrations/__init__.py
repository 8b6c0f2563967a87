"""Alembic migrations of the services' tables (``svc_*``), run by ``DisputeStore.open``.

Their own version table (``svc_alembic_version``) and branch (label ``services``): the
provenance ledger migrates its ``prov_*`` tables with ``prov_alembic_version`` and never
sees these revisions, so ``provenance.Store.open`` keeps working on a shared database
(provenance must not import services). Adding a table is one new file in ``versions/``
whose ``down_revision`` is the current head. Revisions written in parallel that revise the
same head leave several heads (``s0002`` and ``s0003`` both revise ``s0001``): the store
upgrades all heads, and a merge revision (``down_revision = ("s0002", "s0003")``, empty
``upgrade``) joins them when convenient.
"""
