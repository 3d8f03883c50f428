"""Reading the audit log (admins only). The trail itself is written by web/audit.py."""

# No `from __future__ import annotations`: FastAPI reads these signatures at runtime.

from fastapi import Depends

from integration_hub.storage import audit as audit_rows
from integration_hub.storage.rows import as_utc
from integration_hub.web.admin.deps import DatabaseDep, api_router, next_cursor, require
from integration_hub.web.admin.models import AuditEntryOut, AuditPage
from integration_hub.web.auth import Role
from integration_hub.web.validation import Cursor, Limit, TextFilter, parse_cursor

router = api_router()


# Not itself audited (no `mark_audited`): reading the trail leaves no trail.
@router.get("/audit", dependencies=[Depends(require(Role.ADMIN))])
async def audit(
    database: DatabaseDep, actor: TextFilter = None, limit: Limit = 50, cursor: Cursor = None
) -> AuditPage:
    """Admin actions, newest first (admins only)."""
    before = parse_cursor(cursor)
    rows = await database.read(
        lambda c: audit_rows.list_audit(c, actor=actor, limit=limit, before_id=before)
    )
    items = [AuditEntryOut(**{**r._mapping, "at": as_utc(r.at)}) for r in rows]
    return AuditPage(items=items, next_cursor=next_cursor(rows, limit))
