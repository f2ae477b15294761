"""The web console in a real browser against the real stack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from interventions_events import topics
from playwright.async_api import Browser, Page, expect

from ..conftest import ARTIFACTS, Stack, failing_eval

pytestmark = pytest.mark.browser

# records browser notifications (the real API needs a desktop to show them)
RECORD_NOTIFICATIONS = """
window.__notifications = [];
const Real = window.Notification;
class Recording extends Real {
  constructor(title, options) { super(title, options); window.__notifications.push(title); }
}
Object.defineProperty(Recording, "permission", { get: () => Real.permission });
window.Notification = Recording;
"""


async def open_console(
    browser: Browser, stack: Stack, role: str, path: str = "/", width: int = 1280
) -> Page:
    context = await browser.new_context(
        viewport={"width": width, "height": 900}, base_url=stack.url
    )
    await context.grant_permissions(["notifications"], origin=stack.url)
    await context.add_init_script(RECORD_NOTIFICATIONS)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(path)
    await page.get_by_label("API token").fill(stack.tokens[role])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#whoami")).to_contain_text(stack.names[role])
    await expect(page.locator("#live-state")).to_have_text("live", timeout=10_000)
    page.errors = errors  # type: ignore[attr-defined]
    return page


async def test_a_signal_on_kafka_appears_on_an_open_board_within_2_seconds(
    browser: Browser, stack: Stack
) -> None:
    page = await open_console(browser, stack, "viewer")
    doc, _ = failing_eval("Board freshness")
    started = time.monotonic()
    await stack.publish_signal(doc, "inbox.triage")
    row = page.locator("tr", has_text="Board freshness violation for inbox.triage")
    await expect(row).to_be_visible(timeout=5_000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"the incident took {elapsed:.2f}s to reach the board"
    print(f"signal on Kafka -> row on the board: {elapsed:.2f}s")
    await expect(row.locator(".badge")).to_have_text("sev1")
    assert await page.evaluate("window.__notifications.length") >= 1  # sev1: a notification
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.screenshot(path=str(ARTIFACTS / "board-phone.png"), full_page=True)
    assert not [e for e in page.errors if "Notification" not in e], page.errors  # type: ignore[attr-defined]
    await page.context.close()


async def test_acknowledging_in_one_tab_updates_a_second_tab(
    browser: Browser, stack: Stack
) -> None:
    doc, key = failing_eval("Two-tab freshness", priority="high")
    await stack.publish_signal(doc, "inbox.triage")
    incident = await stack.incident_by_key(key)
    watcher = await open_console(browser, stack, "viewer")
    row = watcher.locator(f'tr[data-incident-id="{incident["id"]}"]')
    await expect(row).to_contain_text("open")
    actor = await open_console(browser, stack, "responder", f"/incidents/{incident['id']}")
    await expect(actor.locator("#incident-status")).to_have_text("open")
    await actor.get_by_role("button", name="Acknowledge").click()
    await expect(actor.locator("#incident-status")).to_have_text("acknowledged")
    await expect(row).to_contain_text("acknowledged", timeout=5_000)  # no reload in tab two
    await expect(actor.get_by_role("button", name="Acknowledge")).to_have_count(0)
    await expect(actor.get_by_role("button", name="Resolve")).to_be_visible()
    await expect(actor.locator("#timeline")).to_contain_text(f"by {stack.names['responder']}")
    for page in (watcher, actor):
        await page.context.close()


async def test_dry_run_then_execute_with_approval_from_the_incident_page(
    browser: Browser, stack: Stack
) -> None:
    doc, key = failing_eval("Playbook freshness")
    await stack.publish_signal(doc, "inbox.triage")
    incident = await stack.incident_by_key(key)
    assert "rerun_eval" in incident["playbooks"]
    commands = asyncio.create_task(first_command(stack, incident["id"]))
    page = await open_console(browser, stack, "approver", f"/incidents/{incident['id']}")
    card = page.locator('li[data-action-type="rerun_eval"]')
    execute = card.get_by_role("button", name="Execute")
    await expect(execute).to_be_disabled()  # a dry-run comes first
    await card.get_by_role("button", name="Dry run").click()
    await expect(card.locator(".preview")).to_contain_text("Dry run succeeded")
    await expect(execute).to_be_enabled()
    await card.get_by_label("I approve this execution").check()
    await execute.click()
    await expect(card).to_contain_text("Execution succeeded", timeout=10_000)
    history = page.locator("table.executions tr", has_text="rerun_eval")
    await expect(history.first).to_contain_text(stack.names["approver"])
    await expect(page.locator("#timeline")).to_contain_text("rerun_eval", timeout=10_000)
    command = await asyncio.wait_for(commands, 15)
    assert command["data"]["agent"] == "inbox.triage"
    assert command["data"]["requested_by"] == stack.names["approver"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "incident.png"), full_page=True)
    await page.context.close()


async def test_a_responder_requests_and_an_approver_approves_a_pending_execution(
    browser: Browser, stack: Stack
) -> None:
    doc, key = failing_eval("Approval freshness")
    await stack.publish_signal(doc, "inbox.triage")
    incident = await stack.incident_by_key(key)
    path = f"/incidents/{incident['id']}"
    responder = await open_console(browser, stack, "responder", path)
    card = responder.locator('li[data-action-type="rerun_eval"]')
    await expect(card.get_by_label("I approve this execution")).to_have_count(0)
    await card.get_by_role("button", name="Dry run").click()
    await card.get_by_role("button", name="Execute").click()
    await expect(card).to_contain_text("Waiting for approval")
    approver = await open_console(browser, stack, "approver", path)
    await approver.get_by_role("button", name="Approve rerun_eval").click()
    done = approver.locator('table.executions tr[data-status="succeeded"]')
    await expect(done).to_contain_text(stack.names["approver"], timeout=10_000)
    await expect(responder.locator('table.executions tr[data-status="succeeded"]')).to_have_count(
        1, timeout=10_000
    )  # the requester's tab follows live
    for page in (responder, approver):
        await page.context.close()


async def test_a_viewer_sees_no_lifecycle_or_execute_buttons(
    browser: Browser, stack: Stack
) -> None:
    doc, key = failing_eval("Viewer freshness", priority="medium")
    await stack.publish_signal(doc, "inbox.triage")
    incident = await stack.incident_by_key(key)
    page = await open_console(browser, stack, "viewer", f"/incidents/{incident['id']}")
    await expect(page.locator("#incident-title")).to_contain_text("Viewer freshness")
    for name in ("Acknowledge", "Resolve", "Execute", "Dry run"):
        await expect(page.get_by_role("button", name=name)).to_have_count(0)
    await page.context.close()


async def test_a_bad_token_is_refused_at_sign_in(browser: Browser, stack: Stack) -> None:
    context = await browser.new_context(base_url=stack.url)
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_label("API token").fill("iv_wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await context.close()


async def first_command(stack: Stack, incident_id: int) -> dict[str, Any]:
    consumer = AIOKafkaConsumer(
        topics.full(topics.COMMANDS_EVAL, stack.prefix),
        bootstrap_servers=stack.bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        async for rec in consumer:
            doc = orjson.loads(rec.value)
            if doc["data"].get("incident_id") == incident_id:
                return dict(doc)
    finally:
        await consumer.stop()
    raise AssertionError("unreachable")
