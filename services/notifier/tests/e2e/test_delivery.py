"""Who gets told what: routing by severity, one PagerDuty alert per incident, retries, failures
and redelivery, through the real broker and the PagerDuty and Slack stand-ins."""

from __future__ import annotations

import asyncio

from interventions_events.notifications import NotificationFailed, NotificationSent
from interventions_testkit.standins.pagerduty import PagerDutyStandIn, Scripted
from interventions_testkit.standins.slack import SlackStandIn, block_errors

from .conftest import Bus, Notifiers, acknowledged, opened, resolved, wait_for


def _slack_incidents(slack: SlackStandIn) -> list[int]:
    """Incident ids of Slack messages, from the console link in each message."""
    ids = []
    for m in slack.snapshot():
        link = m.body["blocks"][-1]["text"]["text"]
        ids.append(int(link.split("/incidents/")[1].split("|")[0]))
    return ids


async def test_routing_table_pages_sev1_sev2_posts_sev1_to_sev3_and_only_logs_sev4(
    notifiers: Notifiers,
    bus: Bus,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
) -> None:
    notifiers.start()
    await bus.publish(*(opened(n, f"sev{n}") for n in (1, 2, 3, 4)))
    await wait_for(
        lambda: len(pagerduty.accepted()) >= 2 and len(slack.snapshot()) >= 3,
        what="pages and messages",
    )
    await asyncio.sleep(1.0)  # anything extra (a sev4 page, a duplicate) would arrive by now
    pages = pagerduty.accepted()
    assert sorted((p["dedup_key"], p["payload"]["severity"]) for p in pages) == [
        ("interventions-incident-1", "critical"),
        ("interventions-incident-2", "error"),
    ]
    assert all(p["event_action"] == "trigger" for p in pages)
    assert sorted(_slack_incidents(slack)) == [1, 2, 3]
    assert pagerduty.invalid() == [] and all(c.error is None for c in slack.calls)
    assert all(block_errors(m.body) == [] for m in slack.snapshot())
    page = next(p for p in pages if p["dedup_key"].endswith("-1"))
    assert page["links"][0]["href"] == "http://console.test/incidents/1"
    assert page["payload"]["custom_details"]["evidence"]["invariant"]["actual"] == 1800


async def test_trigger_acknowledge_and_resolve_share_one_dedup_key_and_redelivery_sends_nothing(
    notifiers: Notifiers,
    bus: Bus,
    pagerduty: PagerDutyStandIn,
    slack: SlackStandIn,
) -> None:
    notifiers.start()
    await bus.publish(opened(7, "sev1"))
    await wait_for(lambda: len(pagerduty.accepted()) == 1, what="trigger")
    await bus.publish(acknowledged(7))
    await wait_for(lambda: len(pagerduty.accepted()) == 2, what="acknowledge")
    await bus.publish(resolved(7))
    await wait_for(lambda: len(pagerduty.accepted()) == 3, what="resolve")
    await wait_for(lambda: len(bus.of(NotificationSent)) >= 4, what="delivery log")
    pages = pagerduty.accepted()
    assert [p["event_action"] for p in pages] == ["trigger", "acknowledge", "resolve"]
    assert {p["dedup_key"] for p in pages} == {"interventions-incident-7"}
    await wait_for(lambda: len(slack.snapshot()) >= 2, what="slack open and update")
    await asyncio.sleep(1.0)
    before_pd, before_slack = len(pagerduty.calls), len(slack.calls)
    sent_keys = [e.idempotency_key for e in bus.of(NotificationSent)]
    assert len(sent_keys) == len(set(sent_keys))

    await bus.redeliver_everything()
    await asyncio.sleep(3.0)  # the redelivered records are consumed well within this
    assert len(pagerduty.calls) == before_pd
    assert len(slack.calls) == before_slack


async def test_pagerduty_429_twice_then_202_is_delivered_once(
    notifiers: Notifiers,
    bus: Bus,
    pagerduty: PagerDutyStandIn,
) -> None:
    pagerduty.script = [Scripted(429), Scripted(503)]
    notifiers.start()
    await bus.publish(opened(11, "sev1"))
    await wait_for(
        lambda: any(e.sink == "pagerduty" for e in bus.of(NotificationSent)),
        what="NotificationSent from pagerduty",
    )
    assert [c.status for c in pagerduty.calls] == [429, 503, 202]
    assert len(pagerduty.accepted()) == 1
    sent = [e for e in bus.of(NotificationSent) if e.sink == "pagerduty"]
    assert len(sent) == 1 and sent[0].attempts == 3 and sent[0].status_code == 202
    assert sent[0].idempotency_key == "incident-11/c1/trigger/pagerduty"


async def test_pagerduty_400_is_recorded_as_failed_with_the_body_and_not_retried(
    notifiers: Notifiers,
    bus: Bus,
    pagerduty: PagerDutyStandIn,
) -> None:
    refusal = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["scripted refusal"],
    }
    pagerduty.script = [Scripted(400, refusal)]
    notifiers.start()
    await bus.publish(opened(12, "sev2"))
    await wait_for(lambda: len(bus.of(NotificationFailed)) >= 1, what="NotificationFailed")
    await asyncio.sleep(0.5)
    failed = bus.of(NotificationFailed)[0]
    assert failed.status_code == 400 and failed.retryable is False
    assert "scripted refusal" in failed.error
    assert len(pagerduty.calls) == 1


async def test_slack_bot_threads_updates_coalesces_a_burst_and_honours_retry_after(
    notifiers: Notifiers,
    bus: Bus,
    slack: SlackStandIn,
) -> None:
    from interventions_events import Envelope
    from interventions_events import incidents as ev

    from .conftest import now, snapshot

    notifiers.configure(notifier={"slack": {"coalesce_window": "1500ms"}})
    slack.script = [(429, "1")]
    notifiers.start(
        SLACK_BOT_TOKEN=slack.bot_token, SLACK_CHANNEL="#incidents", SLACK_API_URL=slack.api_url
    )
    await bus.publish(opened(41, "sev3"))
    await wait_for(lambda: len(slack.snapshot()) == 1, what="the first message")
    calls = [c for c in slack.calls]
    assert [c.status for c in calls][:2] == [429, 200]
    assert calls[1].at - calls[0].at >= 1.0  # Retry-After: 1 was honoured
    mitigated = Envelope(
        source="test",
        data=ev.IncidentMitigated(
            incident_id=41, at=now(), by="alice", incident=snapshot(41, "sev3", "mitigated", 3)
        ),
    )
    await bus.publish(acknowledged(41, "sev3"), mitigated, resolved(41, "sev3", 4))
    await wait_for(lambda: len(slack.snapshot()) >= 2, what="the update")
    await asyncio.sleep(2.0)  # a second, uncoalesced update would arrive by now
    first, update = slack.snapshot()
    assert first.thread_ts is None and update.thread_ts == first.ts
    context = update.body["blocks"][2]["elements"][0]["text"]
    assert "Acknowledged" in context and "Mitigated" in context and "Resolved" in context
    assert "resolved" in update.body["blocks"][1]["fields"][1]["text"]
