"""The ledger: money movements the payments handler recorded, newest first."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from integration_hub.storage import ledger as ledger_rows
from integration_hub.storage.rows import as_utc
from integration_hub.web.admin.deps import DatabaseDep, api_router, next_cursor
from integration_hub.web.admin.models import LedgerEntryOut, LedgerPage
from integration_hub.web.validation import Cursor, Limit, parse_cursor

router = api_router()

_STORED_TIMES = frozenset({"id", "occurred_at", "created_at"})  # id is not shown; times in UTC


@router.get("/ledger")
async def ledger(database: DatabaseDep, limit: Limit = 50, cursor: Cursor = None) -> LedgerPage:
    before = parse_cursor(cursor)
    rows = await database.read(lambda c: ledger_rows.list_ledger(c, limit=limit, before_id=before))
    items = [
        LedgerEntryOut(
            **{k: v for k, v in r._mapping.items() if k not in _STORED_TIMES},
            occurred_at=as_utc(r.occurred_at),
            created_at=as_utc(r.created_at),
        )
        for r in rows
    ]
    return LedgerPage(items=items, next_cursor=next_cursor(rows, limit))
