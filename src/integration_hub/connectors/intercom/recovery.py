"""Finding the conversation an escalation's lost open made ("Search conversations", REST API
2.11). Intercom's `~` on `source.body` matches single words, never a whole line, so the search
asks for the contact's conversations created since the attempt was claimed and the first
message is checked here for the escalation's id. The search index lags new conversations by
a few minutes: a miss is looked for again until SEARCH_LAG has passed since the last attempt;
after that the attempt made nothing and the conversation is opened again (guard.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from integration_hub.connectors.intercom.api import as_dict, intercom_id

MAX_SEARCHED = 20  # conversations read from a search answer (Intercom's default page)
MAX_SOURCE = 64 * 1024  # characters of a first message searched for the escalation's id
CLOCK_SKEW = 60  # seconds: Intercom's created_at against the hub's clock
SEARCH_LAG = timedelta(minutes=10)


def search_query(contact_id: str, claimed_at: datetime) -> dict[str, Any]:
    since = int(claimed_at.timestamp()) - CLOCK_SKEW
    return {
        "query": {
            "operator": "AND",
            "value": [
                {"field": "contact_ids", "operator": "=", "value": contact_id},
                {"field": "created_at", "operator": ">", "value": since},
            ],
        },
        "pagination": {"per_page": MAX_SEARCHED},
    }


def opened_conversation(answer: Any, escalation_id: str) -> str | None:
    """The id of the listed conversation whose first message names `escalation_id`."""
    listed = as_dict(answer).get("conversations")
    named = re.compile(rf"\b{re.escape(escalation_id)}\b")
    for conversation in listed[:MAX_SEARCHED] if isinstance(listed, list) else []:
        body = as_dict(as_dict(conversation).get("source")).get("body")
        conversation_id = intercom_id(as_dict(conversation).get("id"))
        if (
            conversation_id is not None
            and isinstance(body, str)
            and named.search(body[:MAX_SOURCE])
        ):
            return conversation_id
    return None
