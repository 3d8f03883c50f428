"""Storage: one schema for SQLite and PostgreSQL, SQLAlchemy Core, Alembic migrations."""
