"""The product's ten steps as one walk in Chromium, on the stack as it is deployed (tests/e2e/stack.py):
gunicorn, qcluster on Redis, PostgreSQL, WhiteNoise, fake Twilio (SMS + Voice), Stripe and providers.

An admin imports a CSV in the admin -> the leads are enriched (fake SerpAPI) and given first
lines (fake chat API) -> Day 0 texts go out (seen at the fake Twilio) -> one lead opens the
preview link from its text three times -> it turns hot and its rep, on the queue page, sees the
alert -> the rep calls it from the queue (the fake rings, fetches the TwiML, posts signed status
callbacks) -> the lead claims the site and pays on the fake Stripe Checkout (signed webhooks) ->
client, subscription, transaction and commission exist -> the admin's dashboard MRR moved.

One assertion per step; a failing step saves a screenshot of every open page (its path and the
web and worker logs are in the failure). Waits are polls with deadlines, generous for a loaded
2-core machine: the Day 0 dispatcher runs once a minute and the scheduler looks every 30 s.
"""

import re
import time
from contextlib import contextmanager

import environ
import pytest
from django.db import connections

from crm.models import Call, Client, Commission, Lead, Subscription, Transaction
from tests.browser.conftest import DESKTOP_CHROME_UA
from tests.e2e.stack import LEAD_NAMES, LLM_MODEL, SENDER, production_stack

pytestmark = pytest.mark.production_stack

ALIAS = "e2e_stack"  # the stack's database, read from this process through the ORM


@pytest.fixture
def stack(tmp_path, server_database, django_db_blocker):
    database_url = server_database("e2e")
    configured = connections.configure_settings({"default": connections.settings["default"],
                                                 ALIAS: environ.Env.db_url_config(database_url)})
    connections.settings[ALIAS] = configured[ALIAS]
    try:
        with django_db_blocker.unblock(), production_stack(tmp_path, database_url) as running:
            yield running
            connections[ALIAS].close()
    finally:
        del connections.settings[ALIAS]


class Walk:
    """Numbered steps; a failing one saves every page's screenshot and adds the logs to the failure."""

    def __init__(self, stack, folder):
        self.stack, self.folder, self.pages, self.number = stack, folder, {}, 0

    @contextmanager
    def step(self, name: str):
        self.number += 1
        try:
            yield
        except BaseException as failure:
            self.folder.mkdir(exist_ok=True)
            saved = []
            for label, page in self.pages.items():
                path = self.folder / f"step{self.number}-{label}.png"
                try:
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(str(path))
                except Exception as exc:  # a closed page: say so, keep the real failure
                    saved.append(f"{label}: no screenshot ({exc})")
            failure.add_note(f"step {self.number} ({name}) failed; screenshots: {saved}\n{self.stack.logs()}")
            raise


def poll(read, until, timeout: float, every: float = 0.5):
    """read() again until until(value) or the deadline; the last value either way."""
    deadline = time.monotonic() + timeout
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value


def leads():
    return Lead.objects.using(ALIAS)


def log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    assert "/admin/login/" not in page.url, f"{username} could not sign in"


def mrr(page, base: str) -> int:
    """The dashboard's MRR card, in whole dollars."""
    page.goto(f"{base}/admin/")
    return int(page.locator("#kpi-mrr .kpi-value").inner_text().replace(",", "").replace("$", "").split(".")[0])


def is_view_post(response) -> bool:
    request = response.request
    try:
        return request.method == "POST" and request.url.endswith("/t/") and (
            request.post_data_json or {}).get("type") == "view"
    except ValueError:
        return False


def test_import_to_payment_on_the_production_stack(stack, browser, tmp_path):
    base, walk = stack.url, Walk(stack, tmp_path / "screenshots")
    admin_page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    rep_page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
    visitor = browser.new_context(user_agent=DESKTOP_CHROME_UA)
    walk.pages.update(admin=admin_page, rep=rep_page)
    log_in(admin_page, base, stack.users["admin"]["username"], stack.password)
    mrr_before = mrr(admin_page, base)

    with walk.step("the admin imports a CSV in the admin"):
        csv_path = tmp_path / "new-leads.csv"
        csv_path.write_bytes(stack.csv())
        admin_page.goto(f"{base}/admin/crm/lead/import/")
        admin_page.set_input_files("input[name=import_file]", str(csv_path))
        admin_page.fill("input[name=consent_source]", "Website form, 2026")
        with admin_page.expect_navigation():
            admin_page.get_by_role("button", name="Check file (dry run)").click()
        with admin_page.expect_navigation():
            admin_page.get_by_role("button", name="Confirm import").click()
        assert admin_page.locator('#import-counts [data-count="new"]').inner_text().strip() == "3"

    with walk.step("the leads are enriched and given first lines by the model"):
        done = poll(lambda: list(leads().order_by("pk").values_list(
            "business_name", "enrichment_status", "time_zone", "first_line_status", "first_line_source")),
            lambda rows: len(rows) == 3 and all(row[3] == "done" for row in rows), timeout=120)
        assert done == [(name, "done", stack.zone, "done", f"llm:{LLM_MODEL}") for name in LEAD_NAMES]

    with walk.step("Day 0 texts go out (seen at the fake Twilio)"):
        first_lines = dict(leads().values_list("phone", "first_line"))
        texts = poll(lambda: list(stack.sms.messages), lambda found: len(found) >= 3, timeout=200)
        assert sorted((m.to, first_lines[m.to] in m.body, f"{base}/p/" in m.body) for m in texts) == [
            (phone, True, True) for phone in sorted(first_lines)]

    lead = leads().get(business_name=LEAD_NAMES[0])
    preview_url = re.search(r"(http\S+/p/\S+/)", next(m.body for m in texts if m.to == lead.phone)).group(1)
    with walk.step("the lead opens the preview link from its text three times"):
        log_in(rep_page, base, stack.users["rep"]["username"], stack.password)
        rep_page.goto(f"{base}/admin/queue/")
        rep_page.wait_for_selector("#crm-unread-count", state="attached", timeout=20_000)
        statuses = []
        for _ in range(3):
            page = visitor.new_page()
            with page.expect_response(is_view_post, timeout=20_000) as view:
                page.goto(preview_url)
            statuses.append(view.value.status)
            page.close()
        assert statuses == [201, 201, 201]

    with walk.step("it turns hot and its rep sees the alert"):
        rep_page.wait_for_function(
            "() => { const el = document.getElementById('crm-unread-count');"
            " return el && el.textContent.trim() === '1' && el.offsetParent !== null; }", timeout=30_000)
        toast = rep_page.locator("#crm-notification-toast a").first.inner_text()
        assert f"{lead.business_name} is hot" in toast and leads().get(pk=lead.pk).priority == Lead.Priority.HOT

    with walk.step("the rep calls it from the queue"):
        rep_page.goto(f"{base}/admin/queue/")
        rep_page.wait_for_function(
            "id => { const row = document.querySelector('a.queue-row'); return row && row.dataset.leadId === id; }",
            arg=str(lead.pk), timeout=30_000)
        with rep_page.expect_navigation():
            rep_page.locator("a.queue-row").first.click()
        with rep_page.expect_navigation():
            rep_page.click("#call-button")
        rep_page.wait_for_selector('[data-call-status="completed"]', timeout=60_000)
        call = Call.objects.using(ALIAS).get(lead_id=lead.pk)
        assert (call.status, call.rep_id, call.duration_seconds, call.from_number) == (
            Call.Status.COMPLETED, stack.users["rep"]["id"], 42, SENDER), call.__dict__

    with walk.step("the lead claims the site and pays (signed Stripe webhooks)"):
        page = visitor.new_page()
        walk.pages["visitor"] = page
        page.goto(preview_url)
        with page.expect_navigation(url=re.compile(re.escape(stack.stripe.base_url) + r"/pay/cs_test_")):
            page.locator("#offer").get_by_role("link", name="Claim this website").click()
        with page.expect_navigation(url=re.compile(r"/claim/success/")):
            page.get_by_role("button", name="Pay").click()
        assert ("Payment received" in page.locator("main").text_content(),
                [(kind, status) for _, kind, status in stack.stripe.deliveries]) == (
            True, [("checkout.session.completed", 200), ("invoice.paid", 200)])

    with walk.step("client, subscription, transaction and commission exist"):
        client = Client.objects.using(ALIAS).filter(lead_id=lead.pk).first()
        facts = {
            "client": client is not None and client.rep_id == stack.users["rep"]["id"],
            "lead": leads().get(pk=lead.pk).status,
            "subscription": list(Subscription.objects.using(ALIAS).filter(client=client)
                                 .values_list("amount_cents", "status")),
            "transactions": sorted(Transaction.objects.using(ALIAS).filter(client=client)
                                   .values_list("kind", "amount_cents")),
            "commissions": sorted(Commission.objects.using(ALIAS).filter(rep_id=stack.users["rep"]["id"])
                                  .values_list("amount_cents", flat=True)),
        }
        assert facts == {"client": True, "lead": Lead.Status.PAID,
                         "subscription": [(9_900, Subscription.Status.ACTIVE)],
                         "transactions": [(Transaction.Kind.SETUP, 49_900), (Transaction.Kind.SUBSCRIPTION, 9_900)],
                         "commissions": [1_485, 7_485]}  # 15% of each payment

    with walk.step("the dashboard's MRR moved"):
        after = poll(lambda: mrr(admin_page, base), lambda value: value != mrr_before, timeout=60, every=2)
        assert (mrr_before, after) == (0, 99)

    with walk.step("no request was answered with a 5xx"):
        assert stack.web.errors_5xx() == []
