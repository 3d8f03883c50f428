"""What goes on a conversation the hub opened: its escalation id attribute
(`PUT /conversations/{id}`) and its tags by name (`POST /tags` creates the tag or returns the
existing one; `POST /conversations/{id}/tags` with an admin id, from `GET /me`). Best effort
once the open is recorded (steps.py), applied at open only, within STEPS_TIME seconds so the
activity returns before its 30 s timeout; tag ids and the admin id are kept per instance."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import httpx

from integration_hub.connectors.intercom import ESCALATION_ATTRIBUTE
from integration_hub.connectors.intercom.api import IntercomApi, as_dict, intercom_id
from integration_hub.connectors.intercom.steps import best_effort, step_failed
from integration_hub.connectors.outbound import refuse
from integration_hub.connectors.support_inbox import MAX_TAGS

NAME = "intercom"
STEP_TIMEOUT = httpx.Timeout(5.0, connect=3.0)  # per request of a best-effort step
STEPS_TIME = 8.0  # seconds: no new tag after this
MAX_CACHED_TAGS = 1000


class Labels:
    def __init__(self, api: IntercomApi) -> None:
        self._api = api
        self._admin_id: str | None = None
        self._admin_lock = threading.Lock()
        self._tag_ids: dict[str, str] = {}
        self._tags_lock = threading.Lock()

    def label(self, conversation_id: str, escalation_id: str, tags: tuple[str, ...]) -> None:
        """The attribute and the tags on a conversation just opened (or found opened)."""
        deadline = time.monotonic() + STEPS_TIME
        path = f"/conversations/{conversation_id}"
        attributes = {"custom_attributes": {ESCALATION_ATTRIBUTE: escalation_id}}
        best_effort(
            "attribute", lambda: self._step("conversations.update", "PUT", path, attributes)
        )
        for name in list(dict.fromkeys(tags))[:MAX_TAGS]:
            if time.monotonic() > deadline:
                step_failed("out_of_time", "tags left unapplied")
                return
            best_effort("tag", functools.partial(self._tag, path, name))

    def tag_id(self, name: str) -> str:
        """The id of the tag named `name` (created when Intercom has none): a tag's id never
        changes, so it is asked once per instance."""
        with self._tags_lock:
            if (cached := self._tag_ids.get(name)) is not None:
                return cached
        tag = self._api.call("tags.create", "POST", "/tags", {"name": name})
        tag_id = intercom_id(as_dict(tag).get("id"))
        if tag_id is None:
            raise refuse(NAME, "tags.create", "Intercom's answer has no tag id")
        with self._tags_lock:
            if len(self._tag_ids) >= MAX_CACHED_TAGS:
                self._tag_ids.clear()
            self._tag_ids[name] = tag_id
        return tag_id

    def _admin(self) -> str:
        with self._admin_lock:
            if self._admin_id is None:
                me = self._api.call("me", "GET", "/me")
                admin_id = intercom_id(as_dict(me).get("id"))
                if admin_id is None:
                    raise refuse(NAME, "me", "Intercom's answer has no admin id")
                self._admin_id = admin_id
            return self._admin_id

    def _tag(self, path: str, name: str) -> None:
        tag = {"id": self.tag_id(name), "admin_id": self._admin()}
        self._step("conversations.tag", "POST", f"{path}/tags", tag)

    def _step(self, operation: str, method: str, path: str, body: Any = None) -> Any:
        return self._api.call(operation, method, path, body, timeout=STEP_TIMEOUT)
