"""The Slack stand-in's message metadata and read-back methods, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from interventions_testkit.standins.slack import SlackStandIn, check_metadata

META = {"event_type": "interventions_notification", "event_payload": {"idempotency_key": "k1"}}


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    standin = SlackStandIn().start()
    yield standin
    standin.stop()


def _auth(s: SlackStandIn) -> dict[str, str]:
    return {"Authorization": f"Bearer {s.bot_token}"}


def _post(s: SlackStandIn, text: str, **extra: Any) -> dict[str, Any]:
    body = {"channel": "C0INCIDENTS", "text": text, **extra}
    doc: dict[str, Any] = httpx.post(
        s.api_url + "/chat.postMessage", json=body, headers=_auth(s)
    ).json()
    return doc


def _read(s: SlackStandIn, method: str, auth: bool = True, **params: Any) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(
        f"{s.api_url}/{method}", params=params, headers=_auth(s) if auth else {}
    ).json()
    return doc


def test_metadata_shape_is_checked_like_slack() -> None:
    assert check_metadata(META) is None
    assert check_metadata('{"event_type": "x", "event_payload": {"a": [{"b": 1}]}}') is None
    assert check_metadata({"event_type": "", "event_payload": {}}) == "invalid_metadata_format"
    assert check_metadata({"event_type": "x"}) == "invalid_metadata_format"
    assert check_metadata({"event_type": "x", "event_payload": []}) == "invalid_metadata_format"
    assert check_metadata("{not json") == "invalid_metadata_format"
    bad = {"event_type": "x", "event_payload": {"a": {"b": {"c": 1}}}}
    assert check_metadata(bad) == "invalid_metadata_schema"


def test_post_message_keeps_metadata_and_refuses_a_bad_one(slack: SlackStandIn) -> None:
    assert _post(slack, "hello", metadata=META)["ok"]
    bad = _post(slack, "hello", metadata={"event_type": "x", "event_payload": "no"})
    assert bad == {"ok": False, "error": "invalid_metadata_format"}
    (message,) = slack.snapshot()
    assert message.metadata == META and message.idempotency_key == "k1"


def test_history_lists_top_level_messages_newest_first_with_metadata_on_request(
    slack: SlackStandIn,
) -> None:
    first = _post(slack, "one", metadata=META)["ts"]
    _post(slack, "reply", thread_ts=first)
    second = _post(slack, "two")["ts"]
    doc = _read(slack, "conversations.history", channel="C0INCIDENTS")
    assert doc["ok"] and [m["ts"] for m in doc["messages"]] == [second, first]
    assert all("metadata" not in m for m in doc["messages"])
    doc = _read(slack, "conversations.history", channel="C0INCIDENTS", include_all_metadata="true")
    assert doc["messages"][1]["metadata"] == META and doc["messages"][1]["text"] == "one"
    assert doc["has_more"] is False and doc["response_metadata"] == {"next_cursor": ""}
    newer = _read(slack, "conversations.history", channel="C0INCIDENTS", oldest=first)
    assert [m["ts"] for m in newer["messages"]] == [second]


def test_history_pages_by_cursor(slack: SlackStandIn) -> None:
    posted = [_post(slack, f"m{i}")["ts"] for i in range(5)]
    seen, cursor, pages = [], "", 0
    while True:
        doc = _read(slack, "conversations.history", channel="C0INCIDENTS", limit=2, cursor=cursor)
        seen += [m["ts"] for m in doc["messages"]]
        pages += 1
        cursor = doc["response_metadata"]["next_cursor"]
        if not doc["has_more"]:
            break
    assert pages == 3 and seen == list(reversed(posted))


def test_replies_list_the_thread_oldest_first(slack: SlackStandIn) -> None:
    parent = _post(slack, "parent")["ts"]
    reply = _post(slack, "reply", thread_ts=parent, metadata=META)["ts"]
    _post(slack, "elsewhere")
    doc = _read(
        slack,
        "conversations.replies",
        channel="C0INCIDENTS",
        ts=parent,
        include_all_metadata="1",
    )
    assert [m["ts"] for m in doc["messages"]] == [parent, reply]
    assert doc["messages"][1]["metadata"] == META
    missing = _read(slack, "conversations.replies", channel="C0INCIDENTS", ts="1.000001")
    assert missing == {"ok": False, "error": "thread_not_found"}


def test_reads_check_auth_and_arguments(slack: SlackStandIn) -> None:
    method = "conversations.history"
    assert _read(slack, method, auth=False, channel="C0INCIDENTS")["error"] == "not_authed"
    wrong = httpx.get(
        f"{slack.api_url}/{method}",
        params={"channel": "C0INCIDENTS"},
        headers={"Authorization": "Bearer xoxb-wrong"},
    ).json()
    assert wrong["error"] == "invalid_auth"
    assert _read(slack, method)["error"] == "invalid_arguments"
    assert _read(slack, method, channel="C0NOPE")["error"] == "channel_not_found"
    assert _read(slack, "conversations.replies", channel="C0INCIDENTS")["error"] == (
        "invalid_arguments"
    )
