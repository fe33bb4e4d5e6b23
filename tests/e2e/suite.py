"""End-to-end tests of the Countersign desktop app (run through tests/e2e/run.sh).

The real app binary is driven through tauri-driver + WebKitWebDriver under Xvfb; the
real countersign-server runs on a loopback port; the session bus is private
(dbus-run-session) with a recording notification daemon and tray watcher on it.
The test acts as a second approver (bob) and as the agent through HTTP.
"""

import json
import os
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import APPROVER, ORG, Harness  # noqa: E402
from wd import WebDriverError  # noqa: E402

TESTS = []
SHOTS = os.environ.get("CS_E2E_SCREENSHOTS")


def test(fn):
    TESTS.append(fn)
    return fn


def row_ids(s):
    return s.js("return [...document.querySelectorAll('#queue .row')].map(r => r.dataset.id)")


def wait_rows(s, pred, what, timeout=15):
    return s.wait(lambda: (lambda ids: ids if pred(ids) else None)(row_ids(s)), timeout, what)


def text_of(s, css):
    """textContent: exactly what the DOM holds, whatever CSS does to the rendering."""
    return s.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


def set_search(s, text):
    s.js("const el = document.getElementById('f-search'); el.value = arguments[0];"
         "el.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));", text)


def select_value(s, css, value):
    s.js("const el = document.querySelector(arguments[0]); el.value = arguments[1];"
         "el.dispatchEvent(new Event('change', {bubbles: true}));", css, value)


def open_detail(s, aid):
    s.click(f'#queue .row[data-id="{aid}"] .review')
    s.wait(lambda: s.find("#detail-id").text == aid, 15, f"detail of {aid}")


def wait_server(h, aid, status, timeout=40):
    return h.server and wait_for(lambda: (lambda a: a if a["status"] == status else None)(h.server.approval(aid)),
                                 timeout, f"{aid} {status} on the server")


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def shot(s, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        time.sleep(0.6)
        s.screenshot(os.path.join(SHOTS, f"{name}.png"))


@test
def first_launch_offers_demo_and_settings_sign_in(h):
    s = h.session()
    s.wait_css("#welcome")
    assert s.find("#start-demo").text == "Try the demo"
    s.find("#set-url").send_keys(h.server.url)
    s.find("#set-org").send_keys(ORG)
    s.find("#set-token").send_keys(APPROVER)
    s.click("#set-save")
    wait_rows(s, lambda ids: "appr-xyz789" in ids, "the queue after signing in")
    # The token is write-only: Settings never shows it back.
    s.click("#nav-settings")
    tok = s.wait_css("#set-token")
    assert tok.prop("value") == "", "token shown back"
    assert "stored" in tok.attr("placeholder")
    assert s.find("#set-url").prop("value") == h.server.url
    # ...and it is not in the database either.
    db = open(os.path.join(h.home, "countersign.db"), "rb").read()
    assert APPROVER.encode() not in db


@test
def queue_shows_the_seeded_approvals(h):
    s = h.session()
    ids = wait_rows(s, lambda ids: {"appr-xyz789", "appr-abc123", "appr-def456"} <= set(ids), "seeded rows")
    assert "appr-xss001" in ids
    text = s.js("return document.querySelector('#queue .row[data-id=\"appr-xyz789\"]').innerText")
    for part in ["appr-xyz789", "deployment-bot", "kubernetes:deploy", "REQUIRES_APPROVAL",
                 "Deploy app:v2.0.0 to production namespace", "Review →", "ago"]:
        assert part in text, (part, text)
    assert "⏳" in text
    # Every pending row has a checkbox and a Review button.
    assert len(s.find_all("#queue .row .row-check")) == len(ids)
    assert s.find("#pending-badge").text == str(h.server.pending_count())
    shot(s, "queue")


@test
def filters_and_search_narrow_the_queue(h):
    s = h.session()
    all_ids = wait_rows(s, lambda ids: len(ids) >= 3, "rows")
    agents = s.js("return [...document.querySelectorAll('#f-agent option')].map(o => o.value)")
    assert "customer-bot" in agents and "deployment-bot" in agents, agents
    select_value(s, "#f-agent", "customer-bot")
    ids = wait_rows(s, lambda ids: ids and "appr-xyz789" not in ids, "agent filter")
    assert "appr-abc123" in ids
    agents_shown = s.js("return [...document.querySelectorAll('#queue .row .row-agent')].map(e => e.textContent)")
    assert set(agents_shown) == {"customer-bot"}, agents_shown
    # Combined with the action filter it narrows further.
    select_value(s, "#f-action", "crm:delete")
    ids2 = wait_rows(s, lambda x: x and len(x) <= len(ids), "agent+action filter")
    actions = s.js("return [...document.querySelectorAll('#queue .row .row-action')].map(e => e.textContent)")
    assert set(actions) == {"crm:delete"} and "appr-abc123" in ids2, (actions, ids2)
    s.click("#f-clear")
    wait_rows(s, lambda x: len(x) == len(all_ids), "cleared filters")
    # `/` focuses search; typing narrows by text.
    s.keys("/")
    s.wait(lambda: s.js("return document.activeElement.id") == "f-search", 5, "search focus")
    s.keys("partner-api")
    ids = wait_rows(s, lambda x: x == ["appr-def456"], "search result")
    set_search(s, "")
    wait_rows(s, lambda x: len(x) == len(all_ids), "search cleared")
    # The All tab with a status filter.
    s.click("#tab-all")
    s.wait_css("#f-status")
    select_value(s, "#f-status", "denied")
    s.wait(lambda: (lambda cls: cls and all("status-denied" in c for c in cls))(
        s.js("return [...document.querySelectorAll('#queue .row')].map(r => r.className)")), 15, "denied rows only")
    # Date range: a day in the future has nothing.
    s.js("const el = document.querySelector('#f-from'); el.value = '2099-01-01'; el.dispatchEvent(new Event('change'));")
    s.wait(lambda: row_ids(s) == [], 10, "empty date range")


@test
def detail_shows_every_section(h):
    s = h.session()
    open_detail(s, "appr-xyz789")
    server = h.server.approval("appr-xyz789")
    agent = s.find("#detail-agent").text
    assert "deployment-bot" in agent and server["agent"]["name"] in agent and server["agent"]["version"] in agent, agent
    assert s.find("#detail-action").text == server["action"]
    meta = s.find("#detail-meta").text
    assert "Pending" in meta and "ago" in meta and "remaining" in meta, meta
    before = s.find("#expires-remaining").text
    s.wait(lambda: s.find("#expires-remaining").text != before, 5, "live expiry countdown")
    assert server["reason_text"] in s.find("#detail-reason").text
    assert json.loads(s.find("#detail-params").text) == server["params"]
    trace = s.find_all("#detail-trace li")
    assert len(trace) == len(server["policy_trace"])
    trace_text = s.find("#detail-trace").text
    assert "✓" in trace_text and "⚠" in trace_text and "tool_authorization" in trace_text, trace_text
    budget = s.find("#detail-budget").text
    r = server["risk"]
    assert f"{r['budget_used']}/{r['budget_limit']}" in budget and "%" in budget, budget
    assert len(s.find_all("#detail-checklist li")) == 5
    assert "Agent Identity" in s.find("#detail-checklist").text
    assert "created" in s.find("#detail-history").text.lower()
    assert s.find("#notes") and s.find("#approve").enabled()
    shot(s, "detail")
    # Esc goes back to the queue.
    s.keys("\ue00c")
    s.wait_css("#queue")


@test
def deny_without_a_reason_is_refused(h):
    s = h.session()
    open_detail(s, "appr-abc123")
    deny = s.find("#deny")
    assert not deny.enabled(), "deny enabled without a reason"
    assert "reason" in deny.text.lower(), deny.text
    assert "required" in s.find("#deny-hint").text.lower()
    # The deny shortcut does not get around it: no confirmation opens.
    s.keys("D")
    time.sleep(0.5)
    assert not s.js("return document.getElementById('confirm').open")
    # Nothing reached the server.
    assert h.server.approval("appr-abc123")["status"] == "pending"
    # A reason enables it.
    s.find("#deny-reason").send_keys("x")
    s.wait(lambda: s.find("#deny").enabled(), 5, "deny enabled")


@test
def approve_and_deny_reach_the_server(h):
    s = h.session()
    open_detail(s, "appr-xyz789")
    s.find("#notes").send_keys("Reviewed deployment plan")
    s.click("#approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    assert "appr-xyz789" in s.find("#confirm-body").text
    s.click("#confirm-ok")
    # The view moves on to the next pending approval.
    s.wait(lambda: s.find("#detail-id").text not in ("", "appr-xyz789"), 15, "next pending item")
    a = wait_server(h, "appr-xyz789", "approved")
    assert a["decision"]["by"] == "alice" and a["decision"]["notes"] == "Reviewed deployment plan", a["decision"]

    s.keys("\ue00c")
    open_detail(s, "appr-abc123")
    s.find("#deny-reason").send_keys("Not approved during code freeze")
    s.click("#deny")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    s.click("#confirm-ok")
    a = wait_server(h, "appr-abc123", "denied")
    assert a["decision"]["reason"] == "Not approved during code freeze", a["decision"]


@test
def bulk_approve_names_the_selection_and_applies_it(h):
    s = h.session()
    wanted = ["appr-001", "appr-002", "appr-003"]
    wait_rows(s, lambda ids: set(wanted) <= set(ids), "rows to select")
    for aid in wanted:
        s.click(f'#queue .row[data-id="{aid}"] .row-check')
    s.click("#bulk-approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    title = s.find("#confirm-title").text
    body = s.find("#confirm-body").text
    assert "3" in title, title
    for aid in wanted:
        assert aid in body, body
    s.find("#confirm-notes").send_keys("Batch approved after security review")
    s.click("#confirm-ok")
    for aid in wanted:
        a = wait_server(h, aid, "approved")
        assert a["decision"]["notes"] == "Batch approved after security review"
    wait_rows(s, lambda ids: not set(wanted) & set(ids), "bulk-approved rows leave Pending")


@test
def stats_chart_the_local_store_and_match_the_server(h):
    s = h.session()
    s.click("#tab-stats")
    s.wait_css("#stat-pending")
    status, server = h.server.http("GET", "/approvals/stats")
    assert status == 200, server
    s.wait(lambda: all(text_of(s, f"#stat-{k} .stat-value") == str(server["totals"][k])
                       for k in ("pending", "approved", "denied", "expired")), 15,
           f"stat cards to match the server's totals {server['totals']}")
    # One bar per agent (up to 12) and per reason code, drawn as SVG.
    agents = s.js("return document.querySelectorAll('#chart-agent .bar-label').length")
    assert agents == min(12, len(server["by_agent"])), (agents, len(server["by_agent"]))
    reasons = s.js("return [...document.querySelectorAll('#chart-reason .bar-label')].map(t => t.firstChild.nodeValue)")
    assert {b["key"] for b in server["by_reason"]} >= set(reasons) and reasons, reasons
    assert s.js("return document.querySelectorAll('svg.donut circle.seg').length") >= 2
    shot(s, "stats")
    # A date range in the future has nothing.
    s.js("const el = document.getElementById('s-from'); el.value = '2099-01-01'; el.dispatchEvent(new Event('change'));")
    s.wait(lambda: text_of(s, "#stat-pending .stat-value") == "0", 10, "empty range")


@test
def offline_decision_is_queued_then_delivered(h):
    s = h.session()
    wait_rows(s, lambda ids: "appr-004" in ids, "appr-004 pending")
    h.server.stop()
    try:
        offline_part(h, s)
    finally:
        if not h.server.proc:
            h.server.start()


def offline_part(h, s):
    s.click("#sync-now")
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline state")
    banner = s.find("#banner")
    assert "Offline" in banner.text, banner.text
    open_detail(s, "appr-004")
    s.click("#approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    s.click("#confirm-ok")
    s.wait(lambda: s.find("#detail-id").text != "appr-004", 15, "moved on from appr-004")
    # Marked as queued in the queue (All tab) and in the outbox.
    s.click("#back")
    s.click("#tab-all")
    s.wait(lambda: "Queued approve" in s.find('#queue .row[data-id="appr-004"]').text, 10, "queued marker")
    s.click("#nav-outbox")
    s.wait(lambda: "appr-004" in s.find("#outbox-list").text, 10, "outbox entry")
    shot(s, "offline")
    # Back online: the decision is delivered.
    h.server.start()
    a = wait_server(h, "appr-004", "approved", timeout=90)
    assert a["decision"]["by"] == "alice"
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "online", 30, "online again")
    s.click("#nav-outbox")
    s.wait_css("#outbox-empty", 20)


@test
def a_rejected_decision_is_dismissed_and_stays_dismissed_after_a_restart(h):
    aid = "appr-dismiss1"
    s = h.session()
    h.server.create(aid, summary="Expires while alice is offline", expires_in_secs=30)
    created = time.time()
    wait_rows(s, lambda ids: aid in ids, f"{aid} pending")
    h.server.stop()
    try:
        # Decided offline, expired before it could be delivered: the server cannot apply it.
        s.click("#sync-now")
        s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline state")
        open_detail(s, aid)
        s.click("#approve")
        s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
        s.click("#confirm-ok")
        s.wait(lambda: s.find("#detail-id").text != aid, 15, f"moved on from {aid}")
        time.sleep(max(0, created + 32 - time.time()))
    finally:
        if not h.server.proc:
            h.server.start()
    s.wait(lambda: "rejected" in (text_of(s, "#banner") or ""), 90, "the banner to count the failed decision")
    s.click("#nav-outbox")
    dismiss = f'#outbox-list .outbox-item[data-id="{aid}"] .ob-dismiss'
    label = s.wait_css(dismiss, 15).attr("aria-label")
    assert aid in label, label
    assert text_of(s, dismiss) == "Dismiss", text_of(s, dismiss)
    s.click(dismiss)
    s.wait(lambda: not s.js("return !!document.querySelector(arguments[0])",
                            f'#outbox-list .outbox-item[data-id="{aid}"]'), 15, "the entry to leave the outbox")
    s.wait(lambda: "rejected" not in (text_of(s, "#banner") or ""), 15, "the banner to stop counting it")
    assert not s.js("return document.getElementById('outbox-badge').classList.contains('badge-danger')")
    # The acknowledgement is stored: a restarted app does not count it again.
    h.end_session()
    s = h.session()
    assert "rejected" not in (text_of(s, "#banner") or ""), text_of(s, "#banner")
    s.click("#nav-outbox")
    s.wait_css("#outbox-empty, #outbox-list", 15)
    assert not s.js("return !!document.querySelector(arguments[0])", f'#outbox-list .outbox-item[data-id="{aid}"]')


@test
def script_injection_is_shown_as_text_and_never_runs(h):
    s = h.session()
    s.js("window.__pwned = 0; window.alert = () => { window.__pwned += 1; };")
    wait_rows(s, lambda ids: "appr-xss001" in ids, "xss row")
    scripts_before = s.js("return document.scripts.length")
    row = text_of(s, '#queue .row[data-id="appr-xss001"] .row-summary')
    assert row == "<script>alert('xss')</script> Publish <img src=x onerror=alert(1)> to homepage", row
    open_detail(s, "appr-xss001")
    assert "<img src=x onerror=alert(1)>" in text_of(s, "#detail-agent")
    assert "<script>alert(document.cookie)</script>" in text_of(s, "#detail-reason")
    assert "<script>alert(1)</script>" in text_of(s, "#detail-params")
    assert "<img src=x onerror=alert(2)>" in text_of(s, "#detail-trace")
    time.sleep(0.5)
    assert s.js("return document.scripts.length") == scripts_before
    assert s.js("return document.querySelectorAll('img[src=x], b').length") == 0
    assert s.js("return window.__pwned") == 0
    assert s.title() == "Countersign"
    try:
        text = s.cmd("GET", f"/session/{s.sid}/alert/text")
        raise AssertionError(f"an alert is open: {text}")
    except WebDriverError as e:
        assert "no such alert" in str(e), e


@test
def new_approval_sends_a_desktop_notification_and_a_click_opens_it(h):
    s = h.session()
    wait_rows(s, lambda ids: len(ids) > 0, "queue")
    before = len(h.desktop.records("notify"))
    aid = f"appr-e2e-notify-{int(time.time())}"
    h.server.create(aid, agent="e2e-bot", action="e2e:notify", summary="Rotate the e2e credentials")
    n = wait_for(lambda: next((r for r in h.desktop.records("notify")[before:]
                               if "e2e-bot" in r["summary"]), None), 30, "Notify call on the session bus")
    assert n["app_name"] == "Countersign", n
    assert "e2e:notify" in n["summary"] and n["body"] == "Rotate the e2e credentials", n
    assert "default" in n["actions"], n
    # A click on it opens that approval.
    s.click("#nav-settings")
    s.wait_css("#settings-form")
    h.desktop.click(n["id"], "default")
    s.wait(lambda: s.js("const e = document.getElementById('detail-id'); return e && e.textContent") == aid,
           15, "the approval opened by the click")


@test
def tray_count_follows_the_queue(h):
    s = h.session()
    wait_rows(s, lambda ids: len(ids) > 0, "queue")

    def label():
        labels = h.desktop.tray_labels() or []
        return next((l for l in labels if "waiting" in l), None)

    def expect(n):
        text = "1 approval waiting" if n == 1 else f"{n} approvals waiting"
        wait_for(lambda: label() == text, 30, f"tray menu to say {text!r} (it says {label()!r})")

    pending = h.server.pending_count()
    expect(pending)
    icon_before = h.desktop.tray_property("IconName")
    aid = f"appr-e2e-tray-{int(time.time())}"
    h.server.create(aid, agent="tray-bot", action="e2e:tray")
    expect(pending + 1)
    # The icon image is redrawn with the new count.
    assert h.desktop.tray_property("IconName") != icon_before
    status, body = h.server.http("POST", f"/approvals/{aid}/approve", body={"notes": "bob handled it"})
    assert status == 200, (status, body)
    expect(pending)
    assert s.find("#pending-badge").text == str(pending)


@test
def a_second_launch_hands_over_to_the_first(h):
    s = h.session()
    first = h.app_pids()[0]
    s.click("#nav-settings")
    env = dict(os.environ, COUNTERSIGN_HOME=h.home, COUNTERSIGN_KEYRING="off")
    r = subprocess.run([h.app], env=env, timeout=60, capture_output=True)
    assert r.returncode == 0, r
    # The first instance is still the one running, and its window still answers.
    assert h.app_pids()[0] == first
    assert s.wait_css("#settings-form")


def detail_id(s):
    return s.js("const e = document.getElementById('detail-id'); return e && e.textContent")


def open_link(h, link):
    """Opens `link` as a click would: through xdg-open and the installed .desktop entry when
    CS_E2E_XDG_OPEN is set (the package test), else the way that entry's Exec does."""
    env = dict(os.environ, COUNTERSIGN_HOME=h.home, COUNTERSIGN_KEYRING="off")
    cmd = ["xdg-open", link] if os.environ.get("CS_E2E_XDG_OPEN") else [h.app, link]
    r = subprocess.run(cmd, env=env, timeout=60, capture_output=True)
    assert r.returncode == 0, r


@test
def a_link_opens_the_approval_in_the_running_app(h):
    s = h.session()
    wait_rows(s, lambda ids: "appr-abc123" in ids, "queue")
    first = h.app_pids()[0]
    s.click("#nav-settings")
    s.wait_css("#settings-form")
    open_link(h, f"countersign://approvals/appr-abc123?org={ORG}")
    s.wait(lambda: detail_id(s) == "appr-abc123", 20, "the approval opened by the link")
    # The running instance took it: no second app.
    assert h.app_pids()[0] == first
    # A link for another org shows nothing else: the detail stays where it was.
    open_link(h, "countersign://approvals/appr-xyz789?org=org-elsewhere")
    wait_for(lambda: "refused a link" in h.app_log_text(), 20, "the refused link in the log")
    assert detail_id(s) == "appr-abc123"


@test
def a_link_starts_the_app_on_that_approval(h):
    # What the OS does when the app is not running: start it with the link.
    s = h.session([f"countersign://approvals/appr-def456?org={ORG}"])
    s.wait(lambda: detail_id(s) == "appr-def456", 20, "the approval the app was started for")


@test
def demo_mode_runs_an_embedded_server_and_keeps_the_real_login(h):
    s = h.session(["--demo"])
    wait_rows(s, lambda ids: {"appr-xyz789", "appr-abc123", "appr-def456"} <= set(ids), "demo queue", timeout=30)
    assert "demo" in text_of(s, "#who")
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "online", 20, "demo online")
    # The demo lives in its own directory; the real login is untouched.
    assert os.path.isdir(os.path.join(h.home, "demo"))
    h.end_session()
    s = h.session()
    s.click("#nav-settings")
    s.wait(lambda: s.find("#set-url").prop("value") == h.server.url, 10, "the real server URL kept")


def main(argv):
    only = set(argv[1:])
    passed = failed = 0
    with Harness() as h:
        for fn in TESTS:
            if only and fn.__name__ not in only:
                continue
            print(f"--- {fn.__name__}", flush=True)
            try:
                fn(h)
                passed += 1
                print(f"ok   {fn.__name__}", flush=True)
            except Exception:  # report and go on with the next test
                failed += 1
                traceback.print_exc()
                if h.session_:
                    try:
                        h.session_.screenshot(os.path.join(h.tmp, f"fail-{fn.__name__}.png"))
                    except Exception:  # the app may be gone
                        pass
                print(f"FAIL {fn.__name__}", flush=True)
            finally:
                h.end_session()
        if failed:
            print("---- app log (tail) ----")
            print("\n".join(h.app_log_text().splitlines()[-60:]))
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
