"""A local stand-in for Front's Core API that checks what Front documents (Bearer token, the
paths, the JSON bodies of the import, contact, tag and contact-list calls) and behaves as Front
says it does: an import is accepted (202) and shows up a few lookups later, one external id is
never imported twice, `thread_ref` / `conversation_id` thread messages into one conversation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.partner_server import RecordedRequest, Reply

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZXMiOlsic2hhcmVkOioiXX0.c2lnbmF0dXJl"
INBOX = "inb_3srbb"
API = "http://front.invalid"


def _error(status: int, title: str) -> Reply:
    return Reply(status, {"_error": {"status": status, "title": title, "message": title}})


@dataclass
class FakeFront:
    base_url: str = ""
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> contact
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> message
    conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # name -> id
    conversation_tags: dict[str, list[str]] = field(default_factory=dict)  # id -> tag names
    lists: dict[str, str] = field(default_factory=dict)  # name -> id
    list_page_size: int = 100
    list_listings: int = 0
    unlisted_once: set[str] = field(default_factory=set)
    # A list name -> the lists another sync creates just after it (a race, played out).
    made_elsewhere_on_create: dict[str, tuple[str, ...]] = field(default_factory=dict)
    lookups_before_visible: int = 2  # the import is asynchronous
    lookups: int = 0
    # Accepted but not processed yet (Front's queue is behind): nothing is made.
    processing_paused: bool = False

    def add_contact(self, phone: str, *, lists: tuple[str, ...] = ()) -> str:
        contact_id = f"crd_{len(self.contacts) + 1}"
        self.contacts[contact_id] = {
            "id": contact_id, "name": None, "handles": [{"source": "phone", "handle": phone}],
            "lists": [{"id": self.lists[name], "name": name} for name in lists],
        }  # fmt: skip
        return contact_id

    def __call__(self, request: RecordedRequest) -> Reply:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _error(401, "Unauthenticated")
        route = (request.method, request.path)
        body: Any = json.loads(request.body) if request.body else None
        if route[0] == "GET" and request.path.startswith("/contacts/alt:phone:"):
            phone = unquote(request.path.removeprefix("/contacts/alt:phone:"))
            for contact in self.contacts.values():
                if {"source": "phone", "handle": phone} in contact["handles"]:
                    return Reply(body=contact)
            return _error(404, "Not found")
        if route == ("POST", "/contacts"):
            (handle,) = body["handles"]
            assert set(handle) == {"source", "handle"} and handle["source"] == "phone"
            contact_id = self.add_contact(handle["handle"])
            self.contacts[contact_id]["name"] = body.get("name")
            return Reply(201, self.contacts[contact_id])
        if route == ("POST", f"/inboxes/{INBOX}/imported_messages"):
            return self._import(body)
        if route[0] == "GET" and request.path.startswith("/messages/alt:uid:"):
            return self._lookup(request.path.removeprefix("/messages/alt:uid:"))
        if route[0] == "GET" and request.path.endswith("/conversations"):
            contact_id = request.path.split("/")[2]
            found = [c for c in self.conversations.values() if c["contact"] == contact_id]
            return Reply(body={"_pagination": {"next": None}, "_results": found})
        if route == ("GET", "/contact_lists"):
            return self._list_page(request.query)
        if route == ("POST", "/contact_lists"):
            assert set(body) == {"name"}
            if any(name.casefold() == body["name"].casefold() for name in self.lists):
                return _error(409, "Conflict")
            self.lists[body["name"]] = f"grp_{len(self.lists) + 1}"
            for name in self.made_elsewhere_on_create.pop(body["name"], ()):
                self.lists[name] = f"grp_{len(self.lists) + 1}"  # another sync, meanwhile
            return Reply(204, b"")
        if route[0] == "GET" and request.path.startswith("/contacts/crd_"):
            known = self.contacts.get(request.path.removeprefix("/contacts/"))
            return Reply(body=known) if known else _error(404, "Not found")
        if request.path.startswith("/contact_lists/") and request.path.endswith("/contacts"):
            return self._membership(request.method, request.path.split("/")[2], body)
        return _error(404, "no such route")

    def _list_page(self, query: dict[str, list[str]]) -> Reply:
        """Front's paged listing (`limit`, `page_token` in `_pagination.next`); a list in
        `unlisted_once` is left out of the first listing (Front's search lagging its writes)."""
        self.list_listings += 1
        start = int(query.get("page_token", ["0"])[0])
        limit = min(int(query.get("limit", ["50"])[0]), self.list_page_size)
        shown = [(n, i) for n, i in self.lists.items()
                 if not (self.list_listings == 1 and n in self.unlisted_once)]  # fmt: skip
        page = [{"id": i, "name": n} for n, i in shown[start : start + limit]]
        following = start + limit < len(shown)
        next_url = f"{self.base_url}/contact_lists?limit={limit}&page_token={start + limit}"
        return Reply(body={"_pagination": {"next": next_url if following else None},
                           "_results": page})  # fmt: skip

    def _import(self, body: dict[str, Any]) -> Reply:
        required = {"sender", "to", "body", "external_id", "created_at", "metadata"}
        if not required <= set(body) or not isinstance(body["created_at"], int):
            return _error(400, "Bad request")
        assert isinstance(body["metadata"]["is_inbound"], bool)
        uid = f"uid{len(self.messages) + 1:04d}"
        if self.processing_paused:
            return Reply(202, {"status": "accepted", "message_uid": "uid-pending"})
        if any(m["external_id"] == body["external_id"] for m in self.messages.values()):
            return Reply(202, {"status": "accepted", "message_uid": uid})  # never created
        if body.get("conversation_id") not in (None, *self.conversations):
            return _error(404, "Not found")  # merged into another or deleted
        conversation_id = body.get("conversation_id") or next(
            (c["id"] for c in self.conversations.values()
             if c["thread_ref"] == body["metadata"].get("thread_ref")), None)  # fmt: skip
        if conversation_id is None:
            conversation_id = f"cnv_{len(self.conversations) + 1}"
            contact = next(cid for cid, c in self.contacts.items()
                           if {"source": "phone", "handle": body["sender"]["handle"]} in c["handles"])  # fmt: skip
            self.conversations[conversation_id] = {
                "id": conversation_id, "subject": body.get("subject", ""), "contact": contact,
                "thread_ref": body["metadata"].get("thread_ref"),
            }  # fmt: skip
        self.messages[uid] = {"id": f"msg_{len(self.messages) + 1}", "conversation": conversation_id,
                              "external_id": body["external_id"], "import": body}  # fmt: skip
        self._tag(conversation_id, body.get("tags", []))
        return Reply(202, {"status": "accepted", "message_uid": uid})

    def _tag(self, conversation_id: str, names: list[str]) -> None:
        """The import's `tags`: tag names, an unknown one created; Front's tag names are
        unique whatever their case ("VIP" is the tag "vip")."""
        assert isinstance(names, list) and all(isinstance(n, str) and n for n in names)
        known = self.conversation_tags.setdefault(conversation_id, [])
        for name in names:
            tag = next((n for n in self.tags if n.casefold() == name.casefold()), None)
            if tag is None:
                tag = name
                self.tags[name] = f"tag_{len(self.tags) + 1}"
            if tag not in known:
                known.append(tag)

    def _lookup(self, uid: str) -> Reply:
        self.lookups += 1
        message = self.messages.get(uid)
        if message is None or self.lookups <= self.lookups_before_visible:
            return _error(404, "Not found")
        links = {"self": f"{self.base_url}/messages/{message['id']}",
                 "related": {"conversation": f"{self.base_url}/conversations/{message['conversation']}"}}  # fmt: skip
        return Reply(body={"_links": links, "id": message["id"], "message_uid": uid})

    def _membership(self, method: str, list_id: str, body: dict[str, Any]) -> Reply:
        assert set(body) == {"contact_ids"}
        names = {i: n for n, i in self.lists.items()}
        if list_id not in names:
            return _error(404, "Not found")
        for contact_id in body["contact_ids"]:
            lists = self.contacts[contact_id]["lists"]
            entry = {"id": list_id, "name": names[list_id]}
            if method == "POST" and entry not in lists:
                lists.append(entry)
            if method == "DELETE" and entry in lists:
                lists.remove(entry)
        return Reply(204, b"")
