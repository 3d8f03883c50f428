"""A local stand-in for Intercom's REST API 2.11 that checks each request as Intercom documents
it (developers.intercom.com/docs/references/2.11/rest-api): the Bearer token, the
Intercom-Version and Accept headers, the method and path, and the exact JSON body of each
operation. It keeps contacts, conversations and tags, so tests assert on what exists."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.partner_server import RecordedRequest, Reply

TOKEN = "dG9rOmFhYmJjY2RkXzEyMzRfNDU2N185ODc2OjE6MA=="  # the shape Intercom shows
ADMIN_ID = "991267618"
VERSION = "2.11"


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(
        status,
        {
            "type": "error.list",
            "request_id": "req-1",
            "errors": [{"code": code, "message": message}],
        },
    )


@dataclass
class FakeIntercom:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # name -> id
    # Contacts and conversations the search index does not show yet (Intercom: "may take a
    # few minutes").
    unindexed: set[str] = field(default_factory=set)
    # Requests (method, path) whose effect happens but whose answer is a 503, once each.
    lose_answer_of: list[tuple[str, str]] = field(default_factory=list)
    # Answered before anything else when it returns a reply (429s, outages).
    before: Callable[[RecordedRequest], Reply | None] | None = None
    now: Callable[[], float] = time.time  # Intercom's clock (conversations' created_at)
    refused: list[str] = field(default_factory=list)  # why requests were refused (for asserts)

    def __call__(self, request: RecordedRequest) -> Reply:
        problem = self._check_headers(request)
        if problem is not None:
            self.refused.append(problem)
            return _error(401, "unauthorized", problem)
        if self.before is not None and (reply := self.before(request)) is not None:
            return reply
        reply = self._route(request)
        if (request.method, request.path) in self.lose_answer_of:
            self.lose_answer_of.remove((request.method, request.path))
            return _error(503, "service_unavailable", "try again")
        return reply

    def _check_headers(self, request: RecordedRequest) -> str | None:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return "Authorization is not the Bearer token"
        if request.headers.get("intercom-version") != VERSION:
            return "Intercom-Version is not 2.11"
        if request.headers.get("accept") != "application/json":
            return "Accept is not application/json"
        if request.body and request.headers.get("content-type") != "application/json":
            return "a body that is not JSON"
        return None

    def _body(self, request: RecordedRequest, keys: set[str]) -> dict[str, Any] | None:
        body = json.loads(request.body) if request.body else None
        if not isinstance(body, dict) or set(body) != keys:
            self.refused.append(f"{request.method} {request.path}: body keys {body}")
            return None
        return body

    def _route(self, request: RecordedRequest) -> Reply:
        method, path = request.method, request.path
        if (method, path) == ("GET", "/me"):
            return Reply(
                body={
                    "type": "admin",
                    "id": ADMIN_ID,
                    "name": "Hub bot",
                    "email": "hub@example.com",
                    "app": {"id_code": "x7k2m9qa"},
                }
            )
        if (method, path) == ("POST", "/contacts/search"):
            return self._search_contacts(request)
        if (method, path) == ("POST", "/contacts"):
            return self._create_contact(request)
        if (method, path) == ("POST", "/conversations"):
            return self._create_conversation(request)
        if (method, path) == ("POST", "/conversations/search"):
            return self._search_conversations(request)
        if (method, path) == ("POST", "/tags"):
            body = self._body(request, {"name"})
            if body is None:
                return _error(400, "parameter_invalid", "name")
            tag_id = self.tags.setdefault(body["name"], str(7_000 + len(self.tags)))
            return Reply(body={"type": "tag", "id": tag_id, "name": body["name"]})
        if match := re.fullmatch(r"/conversations/(\d+)(/reply|/tags)?", path):
            return self._conversation(request, match.group(1), match.group(2) or "")
        if method == "GET" and (match := re.fullmatch(r"/contacts/([0-9a-f]{24})", path)):
            return self._get_contact(request, match.group(1))
        if match := re.fullmatch(r"/contacts/([0-9a-f]{24})/tags(?:/(\d+))?", path):
            return self._contact_tags(request, match.group(1), match.group(2))
        return _error(404, "not_found", "Resource Not Found")

    def _search_contacts(self, request: RecordedRequest) -> Reply:
        body = self._body(request, {"query"})
        query = body["query"] if body else None
        if (
            not isinstance(query, dict)
            or set(query) != {"field", "operator", "value"}
            or (query["field"], query["operator"]) != ("phone", "=")
        ):
            return _error(400, "parameter_invalid", "query")
        found = [
            {"type": "contact", "id": contact_id, **contact}
            for contact_id, contact in self.contacts.items()
            if contact["phone"] == query["value"] and contact_id not in self.unindexed
        ]
        return Reply(
            body={
                "type": "list",
                "data": found,
                "total_count": len(found),
                "pages": {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1},
            }
        )

    def _get_contact(self, request: RecordedRequest, contact_id: str) -> Reply:
        contact = self.contacts.get(contact_id)
        if contact is None or request.body:
            return _error(404, "not_found", "User Not Found")
        fields = {k: contact[k] for k in ("role", "phone", "name")}
        return Reply(body={"type": "contact", "id": contact_id, **fields})

    def _create_contact(self, request: RecordedRequest) -> Reply:
        body = json.loads(request.body)
        if body.get("role") != "lead" or not set(body) <= {"role", "phone", "name"}:
            return _error(400, "parameter_invalid", "role")
        contact_id = f"{len(self.contacts) + 1:024x}"
        self.contacts[contact_id] = {
            "role": "lead",
            "phone": body["phone"],
            "name": body.get("name"),
            "tags": [],
        }
        return Reply(
            body={
                "type": "contact",
                "id": contact_id,
                "role": "lead",
                "phone": body["phone"],
                "name": body.get("name"),
            }
        )

    def _create_conversation(self, request: RecordedRequest) -> Reply:
        body = self._body(request, {"from", "body"})
        sender = body["from"] if body else None
        if not isinstance(sender, dict) or set(sender) != {"type", "id"}:
            return _error(400, "parameter_invalid", "from")
        contact = self.contacts.get(sender["id"])
        if contact is None or sender["type"] != contact["role"]:
            return _error(404, "not_found", "User Not Found")
        conversation_id = str(64619700005694 + len(self.conversations))
        self.conversations[conversation_id] = {
            "contact": sender["id"],
            "source": body["body"] if body else "",
            "created_at": int(self.now()),
            "parts": [],
            "custom_attributes": {},
            "tags": [],
        }
        return Reply(
            body={
                "type": "user_message",
                "id": str(403918396 + len(self.conversations)),
                "created_at": 1734537779,
                "body": body["body"] if body else "",
                "message_type": "inapp",
                "conversation_id": conversation_id,
            }
        )

    def _search_conversations(self, request: RecordedRequest) -> Reply:
        """Intercom's search: an AND of filters on `contact_ids` (=), `created_at` (> or <)
        and `source.body` (~, which matches one word: a value of several words matches
        nothing); conversations in `unindexed` are not shown yet."""
        body = json.loads(request.body) if request.body else None
        if not isinstance(body, dict) or not set(body) <= {"query", "pagination"}:
            self.refused.append(f"POST /conversations/search: body keys {body}")
            return _error(400, "parameter_invalid", "query")
        query = body["query"]
        filters = query.get("value", []) if isinstance(query, dict) else []
        known = {
            ("contact_ids", "="),
            ("created_at", ">"),
            ("created_at", "<"),
            ("source.body", "~"),
        }
        if query.get("operator") != "AND" or any(
            (f.get("field"), f.get("operator")) not in known for f in filters
        ):
            self.refused.append(f"POST /conversations/search: query {query}")
            return _error(400, "parameter_invalid", "query")

        def matches(conversation: dict[str, Any], rule: dict[str, Any]) -> bool:
            value = rule["value"]
            match (rule["field"], rule["operator"]):
                case ("contact_ids", "="):
                    return bool(conversation["contact"] == value)
                case ("created_at", ">"):
                    return bool(conversation["created_at"] > value)
                case ("created_at", "<"):
                    return bool(conversation["created_at"] < value)
            words = re.findall(r"\S+", re.sub(r"<[^>]*>", " ", conversation["source"]))
            return " " not in value.strip() and value in words

        found = [
            {
                "type": "conversation",
                "id": cid,
                "created_at": conversation["created_at"],
                "source": {"type": "conversation", "body": conversation["source"]},
            }
            for cid, conversation in self.conversations.items()
            if cid not in self.unindexed and all(matches(conversation, f) for f in filters)
        ]
        return Reply(
            body={"type": "conversation.list", "conversations": found, "total_count": len(found)}
        )

    def _conversation(self, request: RecordedRequest, conversation_id: str, action: str) -> Reply:
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return _error(404, "not_found", "Conversation Not Found")
        if (request.method, action) == ("PUT", ""):
            body = self._body(request, {"custom_attributes"})
            if body is None:
                return _error(400, "parameter_invalid", "custom_attributes")
            conversation["custom_attributes"].update(body["custom_attributes"])
        elif (request.method, action) == ("POST", "/reply"):
            body = self._body(request, {"message_type", "type", "intercom_user_id", "body"})
            if (
                body is None
                or (body["message_type"], body["type"]) != ("comment", "user")
                or (body["intercom_user_id"] != conversation["contact"])
            ):
                return _error(400, "parameter_invalid", "reply")
            conversation["parts"].append(body["body"])
        elif (request.method, action) == ("POST", "/tags"):
            body = self._body(request, {"id", "admin_id"})
            if body is None or body["admin_id"] != ADMIN_ID or body["id"] not in self.tags.values():
                return _error(400, "parameter_invalid", "tag")
            if body["id"] not in conversation["tags"]:
                conversation["tags"].append(body["id"])
            return Reply(body={"type": "tag", "id": body["id"]})
        else:
            return _error(404, "not_found", "Resource Not Found")
        parts = [
            {
                "type": "conversation_part",
                "id": str(30_000 + i),
                "part_type": "comment",
                "body": text,
            }
            for i, text in enumerate(conversation["parts"])
        ]
        return Reply(
            body={
                "type": "conversation",
                "id": conversation_id,
                "custom_attributes": conversation["custom_attributes"],
                "conversation_parts": {
                    "type": "conversation_part.list",
                    "conversation_parts": parts,
                    "total_count": len(parts),
                },
            }
        )

    def _contact_tags(self, request: RecordedRequest, contact_id: str, tag_id: str | None) -> Reply:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return _error(404, "not_found", "User Not Found")
        names = {v: k for k, v in self.tags.items()}
        if (request.method, tag_id) == ("GET", None):
            data = [{"type": "tag", "id": t, "name": names[t]} for t in contact["tags"]]
            return Reply(body={"type": "list", "data": data})
        if (request.method, tag_id) == ("POST", None):
            body = self._body(request, {"id"})
            if body is None or body["id"] not in names:
                return _error(400, "parameter_invalid", "id")
            if body["id"] not in contact["tags"]:
                contact["tags"].append(body["id"])
            return Reply(body={"type": "tag", "id": body["id"], "name": names[body["id"]]})
        if request.method == "DELETE" and tag_id in contact["tags"] and not request.body:
            contact["tags"].remove(tag_id)
            return Reply(body={"type": "tag", "id": tag_id, "name": names[tag_id]})
        return _error(404, "not_found", "Tag Not Found")
