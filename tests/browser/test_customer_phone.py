"""The customer's side of the demo in a browser: the simulator's phone page talks to the
agent, no curl needed."""

from __future__ import annotations

from playwright.sync_api import expect

from runtime.demo import AGENT_EMAIL
from tests.browser.conftest import PHONE, Demo, sign_in


def test_customer_phone_and_agent_talk(demo: Demo, new_page, shots) -> None:
    phone = new_page(PHONE)
    phone.goto("/simulator/phone")
    expect(phone.get_by_label("Business number")).to_contain_text("Demo Shop")
    phone.get_by_label("My WhatsApp id").fill("6281200000077")
    phone.get_by_label("My name").fill("Wulan Phone")
    phone.get_by_placeholder("Message").fill("Is the blue dress in stock?")
    phone.get_by_role("button", name="Send").click()
    expect(phone.locator(".msg.me")).to_contain_text(["Is the blue dress in stock?"])

    agent = new_page()
    sign_in(agent, AGENT_EMAIL, demo.agent_password)
    agent.locator(".conv-items a", has_text="Wulan Phone").click()
    reply = agent.get_by_label("Reply")
    reply.fill("Yes, sizes S to L.")
    reply.press("Enter")

    answer = phone.locator(".msg.biz", has_text="Yes, sizes S to L.")
    expect(answer).to_be_visible()
    expect(answer.locator(".meta")).to_have_text("read", timeout=15_000)
    shots(phone, "customer-phone")
