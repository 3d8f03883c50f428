"""Storage: one schema for SQLite and PostgreSQL, SQLAlchemy Core, Alembic migrations.

Where queries live: every query over a core table (a handler's own tables included) is a
keyword-only function over a Connection in `storage/<table group>.py`; handlers, status, doctor
and web hold rules and write no SQL. A table only one partner uses (the maps cache) keeps its
queries in that partner's package. What SQLite and PostgreSQL spell differently (insert-or-
ignore, upsert, bulk insert, advisory lock, date buckets) is built only in `storage/dialect.py`.
"""
