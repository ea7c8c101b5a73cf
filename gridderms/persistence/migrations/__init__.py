"""Alembic migration environment and scripts of the gridderms database (packaged)."""
