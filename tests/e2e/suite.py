"""End-to-end tests of the Countersign desktop app (run through tests/e2e/run.sh).

The real app binary is driven through tauri-driver + WebKitWebDriver under Xvfb; the
real countersign-server runs on a loopback port; the session bus is private
(dbus-run-session) with a recording notification daemon and tray watcher on it.
The test acts as a second approver (bob) and as the agent through HTTP.
"""

import json
import os
import re
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import a11y  # noqa: E402
from harness import AGENT, APPROVER, ORG, Harness  # noqa: E402
from wd import WebDriverError  # noqa: E402

TESTS = []
SHOTS = os.environ.get("CS_E2E_SCREENSHOTS")


def test(fn):
    TESTS.append(fn)
    return fn


def row_ids(s):
    """Ids of the rows on screen (the queue is windowed: only those exist in the DOM), in order."""
    return s.js("return [...document.querySelectorAll('#queue .row[data-id]')]"
                ".sort((a, b) => a.dataset.index - b.dataset.index).map(r => r.dataset.id)")


def open_tab(s, name):
    """Clicks a queue tab once; it must be the selected one after. (It used to click until
    selected: the status banner appeared and vanished above the view, moving the tab
    under the pointer. The strip now keeps its height, so one click lands.)"""
    s.click(f"#tab-{name}")
    s.wait(lambda: s.js("const t = document.getElementById(arguments[0]);"
                        " return !!t && t.getAttribute('aria-selected') === 'true'", f"tab-{name}"),
           10, f"the {name} tab selected by one click")


def wait_rows(s, pred, what, timeout=15):
    try:
        return s.wait(lambda: (lambda ids: ids if pred(ids) else None)(row_ids(s)), timeout, what)
    except AssertionError as e:
        # What was on screen instead: the rows, the tab and how far the list was scrolled.
        seen = s.js("const q = document.getElementById('queue'); return {rows: [...document.querySelectorAll("
                    "'#queue .row[data-id]')].map(r => r.dataset.id), tab: document.querySelector('[aria-selected=true]"
                    "[id^=tab-]')?.id, scroll: q ? q.scrollTop : null, count: document.getElementById('list-count')?.textContent}")
        raise AssertionError(f"{e}; on screen: {seen}") from None


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
    wait_rows(s, lambda ids: aid in ids, f"row {aid}")
    s.click(f'#queue .row[data-id="{aid}"] .review')
    s.wait(lambda: text_of(s, "#detail-id") == aid, 15, f"detail of {aid}")


def create_many(h, ids, **kw):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda aid: h.server.create(aid, **kw), ids))


def wait_settled(s):
    """Until the decision shortcuts act again after the detail changed (ui/js/settle.js)."""
    s.wait(lambda: s.js("return document.body.dataset.shortcuts !== 'settling'"), 5, "the shortcuts to settle")


def confirm(s):
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    s.click("#confirm-ok")


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


def create_request(h, aid, agent, action, params, summary="Raised by the e2e suite"):
    """An agent's request with the given parameters (the harness's `create` sends fixed ones)."""
    status, body = h.server.http("POST", "/approvals", token="demo-agent-token", body={
        "id": aid, "agent": {"id": agent, "name": "E2E Bot", "version": "v1.0.0"}, "action": action,
        "summary": summary, "reason_code": "requires_approval", "reason_text": f"Action '{action}' requires human approval",
        "params": params,
    })
    assert status in (200, 201), (status, body)


def approve_as_bob(h, aid, notes=None):
    status, body = h.server.http("POST", f"/approvals/{aid}/approve", body={"notes": notes} if notes else {})
    assert status == 200, (status, body)


def post_result(h, aid, outcome, output):
    status, body = h.server.http("POST", f"/approvals/{aid}/result", token="demo-agent-token",
                                 body={"outcome": outcome, "output": output})
    assert status in (200, 201), (status, body)


def shot(s, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        time.sleep(0.6)
        s.screenshot(os.path.join(SHOTS, f"{name}.png"))


@test
def first_launch_offers_demo_and_settings_sign_in(h):
    h.cli("logout")
    aid = h.uid("welcome")
    h.server.create(aid, summary="Waiting for the first sign-in")
    s = h.session(signed_in=False)
    s.wait_css("#welcome")
    assert s.find("#start-demo").text == "Try the demo"
    s.find("#set-url").clear()
    s.find("#set-url").send_keys(h.proxy.url)
    s.find("#set-org").clear()
    s.find("#set-org").send_keys(ORG)
    s.find("#set-token").send_keys(APPROVER)
    s.click("#set-save")
    wait_rows(s, lambda ids: aid in ids, "the queue after signing in")
    # The token is write-only: Settings never shows it back.
    s.click("#nav-settings")
    tok = s.wait_css("#set-token")
    assert tok.prop("value") == "", "token shown back"
    assert "stored" in tok.attr("placeholder")
    assert s.find("#set-url").prop("value") == h.proxy.url
    # ...and it is not in the database either.
    db = open(os.path.join(h.home, "countersign.db"), "rb").read()
    assert APPROVER.encode() not in db


@test
def queue_shows_its_rows(h):
    aid = h.uid("queue")
    h.server.create(aid, agent="queue-bot", action="kubernetes:deploy", summary="Deploy app:v2.0.0 to production namespace")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "the new row")
    text = s.js("return document.querySelector(arguments[0]).innerText", f'#queue .row[data-id="{aid}"]')
    for part in [aid, "queue-bot", "kubernetes:deploy", "requires_approval",
                 "Deploy app:v2.0.0 to production namespace", "Review →"]:
        assert part in text, (part, text)
    assert "⏳" in text
    # Every rendered pending row has a checkbox and a Review button.
    assert len(s.find_all("#queue .row .row-check")) == len(row_ids(s))
    s.wait(lambda: text_of(s, "#pending-badge") == str(h.server.pending_count()), 20, "badge = server's pending count")
    # The Pending tab and the sidebar say the same number.
    assert text_of(s, "#tab-pending-count") == text_of(s, "#pending-badge")
    shot(s, "queue")


@test
def filters_and_search_narrow_the_queue(h):
    tag = f"{os.getpid()}"
    a1, a2, a3 = h.uid("flt"), h.uid("flt"), h.uid("flt")
    h.server.create(a1, agent=f"filter-a-{tag}", action="crm:delete", summary=f"purge stale leads {tag}")
    h.server.create(a2, agent=f"filter-a-{tag}", action="crm:export", summary=f"export partner list {tag}")
    h.server.create(a3, agent=f"filter-b-{tag}", action="crm:delete", summary=f"purge old tickets {tag}")
    s = h.session()
    wait_rows(s, lambda ids: {a1, a2, a3} <= set(ids), "the three rows")
    s.wait(lambda: f"filter-a-{tag}" in s.js("return [...document.querySelectorAll('#f-agent option')].map(o => o.value)"),
           15, "the new agent among the filter values")
    select_value(s, "#f-agent", f"filter-a-{tag}")
    wait_rows(s, lambda ids: set(ids) == {a1, a2}, "agent filter")
    select_value(s, "#f-action", "crm:delete")
    wait_rows(s, lambda ids: ids == [a1], "agent+action filter")
    s.click("#f-clear")
    wait_rows(s, lambda ids: {a1, a2, a3} <= set(ids), "cleared filters")
    # `/` focuses search; typing narrows by text.
    s.keys("/")
    s.wait(lambda: s.js("return document.activeElement.id") == "f-search", 5, "search focus")
    s.keys(f"purge {tag}")
    wait_rows(s, lambda ids: set(ids) == {a1, a3}, "search result")
    # Esc in the box clears the text and the filter with it.
    s.keys("\ue00c")
    wait_rows(s, lambda ids: {a1, a2, a3} <= set(ids), "search cleared by Esc")
    assert s.find("#f-search").prop("value") == ""
    # The All tab with a status filter.
    open_tab(s, "all")
    s.wait_css("#f-status")
    status, body = h.server.http("POST", f"/approvals/{a3}/deny", body={"reason": "not now"})
    assert status == 200, (status, body)
    select_value(s, "#f-status", "denied")
    s.wait(lambda: a3 in row_ids(s) and all("status-denied" in c for c in s.js(
        "return [...document.querySelectorAll('#queue .row[data-id]')].map(r => r.className)")), 15, "denied rows only")
    # Date range: a day in the future has nothing.
    s.js("const el = document.querySelector('#f-from'); el.value = '2099-01-01'; el.dispatchEvent(new Event('change'));")
    s.wait(lambda: row_ids(s) == [], 10, "empty date range")


@test
def detail_shows_every_section(h):
    aid = h.uid("detail")
    h.server.create(aid, agent="detail-bot", action="kubernetes:deploy", expires_in_secs=75)
    s = h.session()
    open_detail(s, aid)
    server = h.server.approval(aid)
    agent = s.find("#detail-agent").text
    assert "detail-bot" in agent and server["agent"]["name"] in agent and server["agent"]["version"] in agent, agent
    assert s.find("#detail-action").text == server["action"]
    meta = s.find("#detail-meta").text
    assert "Pending" in meta and "remaining" in meta, meta
    # The countdown repaints when its text changes: minutes, then seconds in the last minute.
    s.wait(lambda: "s remaining" in (text_of(s, "#expires-remaining") or ""), 30, "the countdown's last minute")
    before = text_of(s, "#expires-remaining")
    s.wait(lambda: text_of(s, "#expires-remaining") != before, 5, "the countdown ticking")
    assert server["reason_text"] in s.find("#detail-reason").text
    # Parameters are a tree: every key and value of the server's params is in it.
    tree = text_of(s, "#detail-params")
    for k, v in server["params"].items():
        assert f"{k}: " in tree and json.dumps(v) in tree, (k, v, tree)
    assert len(s.find_all("#detail-trace li")) == len(server["policy_trace"])
    assert "tool_authorization" in s.find("#detail-trace").text
    budget = s.find("#detail-budget").text
    r = server["risk"]
    assert f"{r['budget_used']}/{r['budget_limit']}" in budget and "%" in budget, budget
    assert len(s.find_all("#detail-checklist li")) == 5
    assert "Agent Identity" in s.find("#detail-checklist").text
    assert "created" in s.find("#detail-history").text.lower()
    assert s.find("#notes") and s.find("#approve").enabled()
    shot(s, "detail")
    # It expires while open: the page changes in place, the form is replaced.
    s.wait(lambda: "Expired" in (text_of(s, "#detail-status") or ""), 70, "the open detail to show it expired")
    assert not s.js("return !!document.getElementById('approve')")
    assert "Expired at" in text_of(s, "#decided-line")
    # Esc goes back to the queue.
    s.keys("\ue00c")
    s.wait_css("#queue")


@test
def an_open_detail_changes_in_place_when_another_approver_decides(h):
    aid = h.uid("stale")
    h.server.create(aid, summary="Decided by bob while alice looks at it")
    s = h.session()
    open_detail(s, aid)
    s.find("#notes").send_keys("half-written note")
    status, body = h.server.http("POST", f"/approvals/{aid}/deny", body={"reason": "release is frozen"})
    assert status == 200, (status, body)
    s.wait(lambda: "Denied" in (text_of(s, "#detail-status") or ""), 20, "the open detail to show bob's deny")
    line = text_of(s, "#decided-line")
    assert "bob" in line and "denied" in line and "release is frozen" in line, line
    assert not s.js("return !!document.getElementById('approve')"), "Approve still offered"


@test
def the_history_says_which_device_signed_each_decision(h):
    signed, unsigned = h.uid("signed"), h.uid("unsigned")
    h.server.create(unsigned, summary="Denied with curl, unsigned")
    h.server.create(signed, summary="Approved in the app, signed")
    status, body = h.server.http("POST", f"/approvals/{unsigned}/deny", body={"reason": "decided with curl"})
    assert status == 200, (status, body)
    s = h.session()
    open_detail(s, signed)
    s.click("#approve")
    confirm(s)
    a = wait_server(h, signed, "approved")
    assert a["decision"]["receipt"]["alg"] == "ed25519", a["decision"]
    s.keys("\ue00c")
    open_tab(s, "all")
    open_detail(s, signed)
    s.wait(lambda: "signed on Countersign on" in (text_of(s, "#detail-history") or ""), 20, "signed in the history")
    assert "unsigned" not in text_of(s, "#detail-history")
    s.keys("\ue00c")
    open_detail(s, unsigned)
    s.wait(lambda: "unsigned" in (text_of(s, "#detail-history") or ""), 20, "unsigned in the history")


@test
def a_quorum_approval_waits_for_others_then_changes_in_place(h):
    aid = h.uid("quorum")
    h.server.create(aid, summary="Needs two approvers", required_approvals=2)
    s = h.session()
    open_detail(s, aid)
    assert "0 of 2 approvals" in text_of(s, "#detail-quorum"), text_of(s, "#detail-quorum")
    s.find("#notes").send_keys("first of two")
    s.click("#approve")
    confirm(s)
    wait_for(lambda: len(h.server.approval(aid)["approvals"]) == 1, 40, "alice's approve on the server")
    assert h.server.approval(aid)["status"] == "pending"
    # Not pending for me any more: under All, the "Waiting for others" filter shows it as 1/2.
    s.keys("\ue00c")
    s.wait_css("#queue")
    open_tab(s, "all")
    s.wait_css("#f-status")
    select_value(s, "#f-status", "waiting")
    wait_rows(s, lambda ids: ids == [aid], f"only {aid} waiting for others")
    chip = text_of(s, f'#queue .row[data-id="{aid}"] .chip-quorum')
    assert "1/2" in chip and "waiting" in chip, chip
    open_detail(s, aid)
    s.wait(lambda: "Waiting for others" in (text_of(s, "#detail-status") or ""), 20, "waiting for others")
    line = text_of(s, "#detail-quorum")
    assert "1 of 2 approvals" in line and "alice ✓" in line, line
    assert not s.js("return !!document.getElementById('approve')"), "Approve offered again"
    # bob, the second approver, approves over HTTP: the open detail changes in place.
    status, body = h.server.http("POST", f"/approvals/{aid}/approve", body={"notes": "second"})
    assert status == 200 and body["approval"]["status"] == "approved", (status, body)
    s.wait(lambda: "Approved" in (text_of(s, "#detail-status") or ""), 20, "the detail to show Approved")
    line = text_of(s, "#detail-quorum")
    assert "2 of 2 approvals" in line and "bob ✓" in line, line
    assert "bob" in text_of(s, "#decided-line"), text_of(s, "#decided-line")


@test
def deny_without_a_reason_is_refused(h):
    aid = h.uid("noreason")
    h.server.create(aid)
    s = h.session()
    open_detail(s, aid)
    deny = s.find("#deny")
    assert not deny.enabled(), "deny enabled without a reason"
    assert "reason" in deny.text.lower(), deny.text
    assert "required" in s.find("#deny-hint").text.lower()
    # The deny shortcut does not get around it: no confirmation opens.
    wait_settled(s)
    s.keys("D")
    time.sleep(0.5)
    assert not s.js("return document.getElementById('confirm').open")
    assert h.server.approval(aid)["status"] == "pending"
    s.find("#deny-reason").send_keys("x")
    s.wait(lambda: s.find("#deny").enabled(), 5, "deny enabled")


@test
def approve_and_deny_reach_the_server(h):
    a1, a2 = h.uid("approve"), h.uid("deny")
    h.server.create(a2)
    h.server.create(a1)
    s = h.session()
    open_detail(s, a1)
    s.find("#notes").send_keys("Reviewed deployment plan")
    s.click("#approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    assert a1 in s.find("#confirm-body").text
    assert "null" not in s.find("#confirm-body").text
    # Nothing of the checklist was ticked: the confirmation says so before approving.
    warn = text_of(s, "#confirm-warnings") or ""
    assert "5 checklist items not ticked" in warn, warn
    s.click("#confirm-ok")
    # The view moves on to the next pending approval.
    s.wait(lambda: text_of(s, "#detail-id") not in ("", a1), 15, "next pending item")
    a = wait_server(h, a1, "approved")
    assert a["decision"]["by"] == "alice" and a["decision"]["notes"] == "Reviewed deployment plan", a["decision"]
    s.keys("\ue00c")
    open_detail(s, a2)
    s.find("#deny-reason").send_keys("Not approved during code freeze")
    s.click("#deny")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    # The checklist is what to verify before approving; a denial is not held up by it.
    assert "checklist" not in (text_of(s, "#confirm-warnings") or "")
    confirm(s)
    a = wait_server(h, a2, "denied")
    assert a["decision"]["reason"] == "Not approved during code freeze", a["decision"]


# Records, on every change of the status banner or the view, where the controls a pointer
# aims at are: the queue's first row and its tabs and search, the detail's decision buttons.
STEADY_RECORDER = """
const place = (e) => { const r = e.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.top)]; };
const note = () => {
  const view = document.getElementById('view');
  const detail = document.getElementById('detail-id');
  const where = view.dataset.view === 'detail' ? `detail:${detail ? detail.textContent : ''}` : view.dataset.view;
  const at = {};
  const rows = [...document.querySelectorAll('#queue .row')].sort((a, b) => a.dataset.index - b.dataset.index);
  if (rows.length) at['first row'] = place(rows[0]);
  for (const sel of ['#tab-pending', '#tab-all', '#f-search', '#approve', '#deny']) {
    const e = document.querySelector(sel);
    if (e) at[sel] = place(e);
  }
  window.__steady.push({where, banner: document.getElementById('banner').textContent, at});
};
window.__steady = [];
const watch = new MutationObserver(note);
watch.observe(document.getElementById('banner'), {childList: true, subtree: true, characterData: true});
watch.observe(document.getElementById('view'), {childList: true, subtree: true});
note();
"""


def steady_marks(s):
    return s.js("return window.__steady")


@test
def nothing_moves_under_the_pointer_while_the_app_goes_offline_syncs_and_sends(h):
    """The status banner fills and empties (offline, back online and syncing, a decision
    held for its undo window then sent) and approvals arrive; the queue's first row, the
    tabs and the decision buttons stay where they were, and clicks made meanwhile open
    what they aimed at."""
    tag = f"steady-{os.getpid()}"
    a, b, c = (h.uid("steady") for _ in range(3))
    for aid in (a, b, c):
        h.server.create(aid, agent=tag, summary=f"{tag} row")
    s = h.session()
    wait_rows(s, lambda ids: {a, b, c} <= set(ids), "the rows")
    s.js(STEADY_RECORDER)
    state = lambda: s.js("return document.getElementById('conn').dataset.state")  # noqa: E731
    try:
        # Offline: the banner fills while a row is clicked.
        h.proxy.set_mode("refuse")
        s.click("#sync-now")
        open_detail(s, a)
        s.wait(lambda: state() == "offline", 30, "offline state")
        s.keys("\ue00c")
        open_detail(s, b)
        s.keys("\ue00c")
    finally:
        h.proxy.set_mode("pass")
    # Back online (syncing, then online): clicks meanwhile. (Sync now, not the banner's
    # Retry: the loop's own retry may reconnect first and take that button away.)
    s.click("#sync-now")
    open_detail(s, c)
    s.wait(lambda: state() == "online", 30, "online again")
    s.keys("\ue00c")
    # Arrivals while tabs are clicked.
    d, e = h.uid("steady"), h.uid("steady")
    for aid in (d, e):
        h.server.create(aid, agent=tag, summary=f"{tag} arrival")
    open_tab(s, "all")
    open_tab(s, "pending")
    wait_rows(s, lambda ids: {d, e} <= set(ids), "the arrivals")
    # A decision held for the undo window ("1 decision waiting to be sent"), then sent,
    # while another approval is opened and shown.
    open_detail(s, a)
    s.click("#approve")
    confirm(s)
    s.wait(lambda: text_of(s, "#detail-id") not in ("", a), 15, "the next approval")
    s.keys("\ue00c")
    open_detail(s, b)
    wait_server(h, a, "approved")
    s.wait(lambda: state() == "online" and not (text_of(s, "#banner") or "").strip(), 20, "the banner to empty")

    marks = steady_marks(s)
    banners = {m["banner"].strip() for m in marks}
    for said in ("Offline", "waiting to be sent"):
        assert any(said in t for t in banners), f"never saw the banner say {said!r}: {banners}"
    assert "" in banners, banners
    places = {}
    for m in marks:
        for what, at in m["at"].items():
            places.setdefault((m["where"], what), []).append((tuple(at), m["banner"].strip()[:40]))
    moved = {k: sorted(set(v)) for k, v in places.items() if len({p for p, _ in v}) > 1}
    assert not moved, "moved while the banner changed:\n  " + "\n  ".join(f"{k}: {v}" for k, v in moved.items())
    for (where, what), seen in sorted(places.items()):
        if where.startswith("approvals") or what == "#approve":
            texts = sorted({t[:24] or "(empty)" for _, t in seen})
            print(f"    {where} {what}: {seen[0][0]} in all {len(seen)} samples, banner {texts}")


@test
def bulk_approve_names_the_selection_and_applies_it(h):
    wanted = [h.uid("bulk") for _ in range(3)]
    for aid in wanted:
        h.server.create(aid, agent="bulk-bot", summary=f"bulk item {aid}")
    s = h.session()
    wait_rows(s, lambda ids: set(wanted) <= set(ids), "rows to select")
    for aid in wanted:
        s.click(f'#queue .row[data-id="{aid}"] .row-check')
    # Shortcuts keep working after a checkbox was clicked with the mouse.
    s.keys("j")
    s.click("#bulk-approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    title = s.find("#confirm-title").text
    body = s.find("#confirm-body").text
    assert "3" in title, title
    for aid in wanted:
        assert aid in body, body
    assert "bulk-bot" in body and "null" not in body, body
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
    # The share of approved actions that failed, from the same store, matches the server's counts.
    x = server["executions"]
    approved = x["succeeded"] + x["failed"] + x["not_reported"]
    share = f"{x['failed'] / approved * 100:.1f}%" if approved else "—"
    s.wait(lambda: text_of(s, "#stat-failed .stat-value") == share, 15, f"the failed share {share}")
    assert text_of(s, "#stat-failed-detail") == \
        f"{x['failed']} failed · {x['succeeded']} executed · {x['not_reported']} not reported"
    agents = s.js("return document.querySelectorAll('#chart-agent .bar-label').length")
    assert agents == min(12, len(server["by_agent"])), (agents, len(server["by_agent"]))
    reasons = s.js("return [...document.querySelectorAll('#chart-reason .bar-label')].map(t => t.firstChild.nodeValue)")
    assert {b["key"] for b in server["by_reason"]} >= set(reasons) and reasons, reasons
    assert s.js("return document.querySelectorAll('svg.donut circle.seg').length") >= 2
    shot(s, "stats")
    s.js("const el = document.getElementById('s-from'); el.value = '2099-01-01'; el.dispatchEvent(new Event('change'));")
    s.wait(lambda: text_of(s, "#stat-pending .stat-value") == "0", 10, "empty range")


@test
def offline_decision_is_queued_then_delivered(h):
    aid = h.uid("offline")
    h.server.create(aid, summary="Decided on a train")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, f"{aid} pending")
    h.server.stop()
    try:
        offline_part(h, s, aid)
    finally:
        if not h.server.proc:
            h.server.start()


def offline_part(h, s, aid):
    s.click("#sync-now")
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline state")
    banner = s.find("#banner")
    assert "Offline" in banner.text, banner.text
    open_detail(s, aid)
    s.click("#approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    s.click("#confirm-ok")
    s.wait(lambda: text_of(s, "#detail-id") != aid, 15, f"moved on from {aid}")
    s.click("#back")
    open_tab(s, "all")
    s.wait(lambda: "Queued approve" in (text_of(s, f'#queue .row[data-id="{aid}"]') or ""), 10, "queued marker")
    s.click("#nav-outbox")
    s.wait(lambda: aid in s.find("#outbox-list").text, 10, "outbox entry")
    shot(s, "offline")
    h.server.start()
    a = wait_server(h, aid, "approved", timeout=90)
    assert a["decision"]["by"] == "alice"
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "online", 30, "online again")
    s.click("#nav-outbox")
    s.wait(lambda: aid not in (text_of(s, "#view") or ""), 20, "the entry to leave the outbox")


@test
def a_cached_detail_opens_at_once_while_the_link_stalls(h):
    aid = h.uid("stall")
    h.server.create(aid, summary="Opened over a stalled link")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, f"{aid} cached")
    h.proxy.set_mode("stall")
    try:
        s.click(f'#queue .row[data-id="{aid}"] .review')
        started = time.time()
        s.wait(lambda: text_of(s, "#detail-id") == aid, 5, "the cached detail")
        took = time.time() - started
        assert took < 1.0, f"opening a cached detail took {took:.2f}s over a stalled link"
        print(f"    cached detail on screen {took * 1000:.0f} ms after the click, link stalled")
        assert "Raised by the e2e suite" not in (text_of(s, "#detail-reason") or "")
        assert s.find("#approve").enabled()
    finally:
        h.proxy.set_mode("pass")


@test
def the_all_tab_reaches_the_oldest_of_3000_approvals_by_scrolling(h):
    tag = f"history-{os.getpid()}"
    ids = [f"appr-e2e-{tag}-{i:04d}" for i in range(3000)]
    create_many(h, ids[:1], agent=tag, summary="the oldest of 3000")
    time.sleep(0.01)  # strictly older than the rest
    create_many(h, ids[1:], agent=tag, summary="history")
    s = h.session()
    open_tab(s, "all")
    s.wait(lambda: tag in s.js("return [...document.querySelectorAll('#f-agent option')].map(o => o.value)"),
           60, "the 3000 approvals synced")
    select_value(s, "#f-agent", tag)
    s.wait(lambda: text_of(s, "#list-count") == "3000 approvals", 60, "a count of 3000")
    for _ in range(40):
        s.js("const q = document.getElementById('queue-scroll'); q.scrollTop = q.scrollHeight;")
        if ids[0] in row_ids(s):
            break
        time.sleep(0.25)
    wait_rows(s, lambda shown: ids[0] in shown, "the oldest approval at the end of the list")
    assert text_of(s, f'#queue .row[data-id="{ids[0]}"] .row-summary') == "the oldest of 3000"
    rows_in_dom = s.js("return document.querySelectorAll('#queue li').length")
    assert rows_in_dom < 100, f"{rows_in_dom} rows in the DOM"
    # j/k and "n of N" work across the window's pages.
    s.click(f'#queue .row[data-id="{ids[0]}"] .review')
    s.wait(lambda: text_of(s, "#detail-position") == "3000 of 3000", 10, "n of N at the end")
    s.keys("k")
    s.wait(lambda: text_of(s, "#detail-position") == "2999 of 3000", 10, "k to the previous one")


@test
def sixty_decisions_made_offline_leave_in_a_handful_of_requests(h):
    tag = f"batch-{os.getpid()}"
    ids = [f"appr-e2e-{tag}-{i:02d}" for i in range(60)]
    create_many(h, ids, agent=tag, summary="one of sixty")
    s = h.session()
    s.wait(lambda: tag in s.js("return [...document.querySelectorAll('#f-agent option')].map(o => o.value)"),
           30, "the 60 approvals synced")
    select_value(s, "#f-agent", tag)
    s.wait(lambda: text_of(s, "#list-count") == "60 approvals", 30, "60 rows")
    h.proxy.set_mode("refuse")
    try:
        s.click("#sync-now")
        s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline")
        # Select all 60 with the keyboard: x ticks, j moves.
        s.js("document.querySelector('#queue li.row').focus()")
        s.keys("xj" * 60)
        s.wait(lambda: text_of(s, ".bulk-count") == "60 selected", 20, "60 selected")
        s.click("#bulk-approve")
        s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
        assert "queued" in (text_of(s, "#confirm-body") or "").lower()
        s.click("#confirm-ok")
        s.wait(lambda: text_of(s, "#outbox-badge") == "60", 10, "60 decisions queued in the outbox")
        h.proxy.reset_count()
    finally:
        h.proxy.set_mode("pass")
    s.click("#sync-now")
    for aid in ids:
        wait_server(h, aid, "approved", timeout=90)
    decisions = h.proxy.count(lambda m, p: m == "POST" and ("/approve" in p or "/bulk-approve" in p))
    assert decisions <= 3, f"{decisions} requests for 60 decisions"
    print(f"    60 decisions made offline were delivered in {decisions} decision request(s)")
    # Exactly once: one approval entry each in the audit trail.
    for aid in ids[:10] + ids[-10:]:
        status, trail = h.server.http("GET", f"/approvals/{aid}/audit")
        assert status == 200, trail
        approved = [e for e in trail["entries"] if e["event"] == "approved"]
        assert len(approved) == 1, (aid, trail)


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
    s.wait(lambda: "not applied" in (text_of(s, "#banner") or ""), 90, "the banner to count the failed decision")
    s.click("#nav-outbox")
    dismiss = f'#outbox-list .outbox-item[data-id="{aid}"] .ob-dismiss'
    label = s.wait_css(dismiss, 15).attr("aria-label")
    assert aid in label, label
    assert text_of(s, dismiss) == "Dismiss", text_of(s, dismiss)
    s.click(dismiss)
    s.wait(lambda: not s.js("return !!document.querySelector(arguments[0])",
                            f'#outbox-list .outbox-item[data-id="{aid}"]'), 15, "the entry to leave the outbox")
    s.wait(lambda: "not applied" not in (text_of(s, "#banner") or ""), 15, "the banner to stop counting it")
    assert not s.js("return document.getElementById('outbox-badge').classList.contains('badge-danger')")
    # The acknowledgement is stored: a restarted app does not count it again.
    h.end_session()
    s = h.session()
    assert "not applied" not in (text_of(s, "#banner") or ""), text_of(s, "#banner")
    s.click("#nav-outbox")
    s.wait_css("#outbox-empty, #outbox-list", 15)
    assert not s.js("return !!document.querySelector(arguments[0])", f'#outbox-list .outbox-item[data-id="{aid}"]')


@test
def script_injection_is_shown_as_text_and_never_runs(h):
    aid = h.uid("xss")
    # An earlier approved request of the same kind, whose agent reported hostile output:
    # the diff compares with it, and its outcome shows that output.
    earlier = h.uid("xss-earlier")
    create_request(h, earlier, "xss-bot", "web:publish",
                   {"html": "<b>old</b>", "img": "<img src=x onerror=alert(4)>"})
    approve_as_bob(h, earlier, "<img src=x onerror=alert(5)>")
    post_result(h, earlier, "failed", {"log": "<img src=x onerror=alert(3)>", "html": "<script>alert(3)</script>"})
    # A right-to-left override never gets in (the server refuses invisible and
    # direction-changing characters); a right-to-left mark does, and is shown as a chip.
    status, body = h.server.http("POST", "/approvals", token="demo-agent-token", body={
        "id": aid, "agent": {"id": "xss-bot"}, "action": "web:publish", "summary": "s",
        "reason_code": "requires_approval", "reason_text": "\u202egpj.exe",
    })
    assert status == 400 and "reason_text" in body["error"]["message"], (status, body)
    status, body = h.server.http("POST", "/approvals", token="demo-agent-token", body={
        "id": aid,
        "agent": {"id": "xss-bot", "name": "<img src=x onerror=alert(1)>", "version": "<script>alert('v')</script>"},
        "action": "web:publish",
        "summary": "<script>alert('xss')</script> Publish <img src=x onerror=alert(1)> to homepage",
        "reason_code": "requires_approval",
        "reason_text": "requires_approval: <b>bold?</b> <script>alert(document.cookie)</script> \u200fgpj.exe",
        "params": {"html": "<script>alert(1)</script>", "img": "<img src=x onerror=alert(1)>"},
        "policy_trace": [{"step": "tool_authorization", "result": "escalate", "detail": "<img src=x onerror=alert(2)>"}],
        "risk": {"budget_used": 1, "budget_limit": 10},
    })
    assert status in (200, 201), (status, body)
    s = h.session()
    s.js("window.__pwned = 0; window.alert = () => { window.__pwned += 1; };")
    wait_rows(s, lambda ids: aid in ids, "xss row")
    scripts_before = s.js("return document.scripts.length")
    row = text_of(s, f'#queue .row[data-id="{aid}"] .row-summary')
    assert row == "<script>alert('xss')</script> Publish <img src=x onerror=alert(1)> to homepage", row
    open_detail(s, aid)
    assert "<img src=x onerror=alert(1)>" in text_of(s, "#detail-agent")
    assert "<script>alert(document.cookie)</script>" in text_of(s, "#detail-reason")
    # Agent text sits in isolating <bdi>: a right-to-left override cannot reorder the page.
    assert s.js("return document.querySelector('#detail-reason bdi') !== null")
    assert "<script>alert(1)</script>" in text_of(s, "#detail-params")
    assert "<img src=x onerror=alert(2)>" in text_of(s, "#detail-trace")
    # The right-to-left mark is shown, as a muted chip, not obeyed silently.
    assert "\u27e8U+200F\u27e9" in text_of(s, "#detail-reason"), text_of(s, "#detail-reason")
    assert s.js("return document.querySelector('#detail-reason .ctl-chip') !== null")
    s.wait_css("#params-diff", 15)
    diff = text_of(s, "#params-diff")
    assert '"<b>old</b>"' in diff and '"<script>alert(1)</script>"' in diff, diff
    assert "<img src=x onerror=alert(5)>" in text_of(s, f'#activity-decisions li[data-id="{earlier}"]')
    s.click(f'#activity-decisions li[data-id="{earlier}"] button')
    s.wait(lambda: text_of(s, "#detail-id") == earlier, 15, "the earlier request")
    s.wait(lambda: "<img src=x onerror=alert(3)>" in (text_of(s, "#detail-output") or ""), 15, "the agent's output as text")
    assert "<script>alert(3)</script>" in text_of(s, "#detail-output")
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


def create_full(h, aid, summary, expires_in_secs=None, trace=None, risk=None, params=None):
    """An approval with a chosen trace, risk and params (h.server.create fixes those)."""
    status, body = h.server.http("POST", "/approvals", token="demo-agent-token", body={
        "id": aid, "agent": {"id": "triage-bot", "name": "Triage Bot"}, "action": "db:migrate",
        "summary": summary, "reason_code": "requires_approval", "reason_text": "needs a human",
        "params": params if params is not None else {"n": 1},
        "policy_trace": trace or [{"step": "tool_authorization", "result": "escalate"}],
        "risk": risk or {"budget_used": 1, "budget_limit": 10},
        "expires_in_secs": expires_in_secs,
    })
    assert status in (200, 201), (status, body)


@test
def the_queue_puts_urgency_first(h):
    tag = f"urgent{os.getpid()}"
    soon, later, calm, risky = (h.uid(t) for t in ("soon", "later", "calm", "risky"))
    create_full(h, calm, f"{tag} calm", expires_in_secs=6 * 3600)
    create_full(h, later, f"{tag} later", expires_in_secs=50 * 60)
    create_full(h, soon, f"{tag} soon", expires_in_secs=8 * 60)
    create_full(h, risky, f"{tag} risky \u200fgpj.exe", expires_in_secs=5 * 3600,
                trace=[{"step": "budget", "result": "fail"}, {"step": "human", "result": "escalate"}],
                risk={"budget_used": 95, "budget_limit": 100})
    s = h.session()
    set_search(s, tag)
    wait_rows(s, lambda ids: {soon, later, calm, risky} <= set(ids), "the four rows")

    def expiry_class(aid):
        return s.js("const t = document.querySelector(arguments[0]); return t ? t.className : null",
                    f'#queue .row[data-id="{aid}"] .row-expires')
    # Default threshold 60 min: 50 min left is amber, 8 min (inside a quarter) red, 6 h plain.
    assert "exp-red" in expiry_class(soon), expiry_class(soon)
    assert "exp-amber" in expiry_class(later), expiry_class(later)
    assert "exp-calm" in expiry_class(calm), expiry_class(calm)
    assert text_of(s, f'#queue .row[data-id="{soon}"] .row-expires') in ("8m", "7m")
    # Risk chips come from the data (the core's one definition).
    chips = s.js("return [...document.querySelectorAll(arguments[0])].map(c => c.textContent)",
                 f'#queue .row[data-id="{risky}"] .chip-risk')
    assert chips == ["1 step failed", "budget 95%", "1 step escalated"], chips
    # Direction marks are shown, not obeyed: the RLM is a visible chip.
    assert "\u27e8U+200F\u27e9" in text_of(s, f'#queue .row[data-id="{risky}"] .row-summary')
    # Sorting by expiry puts the most urgent first.
    select_value(s, "#f-sort", "expiring_first")
    wait_rows(s, lambda ids: ids[:4] == [soon, later, risky, calm], "expiring first")
    select_value(s, "#f-sort", "newest_first")
    wait_rows(s, lambda ids: ids[:4] == [risky, soon, later, calm], "newest first again")
    # The bulk confirmation names each item and warns about the risky one.
    s.click(f'#queue .row[data-id="{risky}"] .row-check')
    s.click(f'#queue .row[data-id="{calm}"] .row-check')
    s.click("#bulk-approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "confirmation")
    body = text_of(s, "#confirm-body")
    assert f"{calm} · triage-bot · db:migrate — {tag} calm" in body, body
    warnings = text_of(s, "#confirm-warnings")
    assert f"{risky}: 1 step failed, budget 95%" in warnings and calm not in warnings, warnings
    s.click("#confirm-cancel")


@test
def the_detail_leads_with_the_request(h):
    aid = h.uid("headline")
    passes = [{"step": f"check_{i}", "result": "pass"} for i in range(5)]
    create_full(h, aid, "Drop the orders table in production", expires_in_secs=20 * 60,
                trace=[{"step": "budget", "result": "fail"}, {"step": "human", "result": "escalate"}] + passes,
                risk={"budget_used": 45, "budget_limit": 50, "limits": {"per_hour": 10, "burst": [1, 2]}},
                params={"table": "orders", "options": {"cascade": True, "backup": None}})
    none = h.uid("noparams")
    create_full(h, none, "Nothing to configure", params={})
    s = h.session()
    open_detail(s, aid)
    assert text_of(s, "#detail-heading") == "Drop the orders table in production"
    assert text_of(s, "#detail-id") == aid
    # Focus moves to the heading on open (a screen reader reads the request first).
    s.wait(lambda: s.js("return document.activeElement && document.activeElement.id") == "detail-heading", 5,
           "focus on the heading")
    assert text_of(s, "#strip-trace") == "1 fail · 1 escalate · 5 pass"
    assert text_of(s, "#strip-budget") == "Budget 90%"
    assert "exp-amber" in s.find("#strip-countdown").attr("class")
    # Five passing steps fold away; the failing and escalating ones stay in view.
    assert s.js("return document.getElementById('trace-passes').open") is False
    assert "budget" in text_of(s, "#detail-trace")
    assert s.js("const li = document.querySelector('#trace-passes li');"
                " return li.checkVisibility ? !li.checkVisibility() : li.getClientRects().length === 0"), \
        "passing steps are folded away"
    # Parameters: a tree with a copy button per object; nested risk values are a tree too.
    tree = text_of(s, "#detail-params")
    assert "table: " in tree and '"orders"' in tree and "cascade: " in tree, tree
    assert len(s.find_all("#detail-params .tree-copy")) == 2
    # Copy: the clipboard when the webview grants it, else the JSON shown selected.
    s.click("#detail-params .tree-copy")
    how = s.wait(lambda: "selected" if s.js("return !!document.querySelector('.tree-copy-text')") else
                 "clipboard" if "Copied as JSON" in (text_of(s, "#toasts") or "") else None, 5, "the copy")
    if how == "selected":
        copied = s.js("const t = document.querySelector('.tree-copy-text'); return [t.value, document.activeElement === t]")
        assert json.loads(copied[0]) == {"table": "orders", "options": {"cascade": True, "backup": None}} and copied[1]
    print(f"    copy in this webview: {how}")
    assert s.js("return document.querySelector('#detail-risk-extra .tree') !== null")
    extra = text_of(s, "#detail-risk-extra")
    assert "per_hour: " in extra and '{"per_hour"' not in extra, extra
    # Esc goes back with focus on the row that was open.
    s.keys("\ue00c")
    s.wait(lambda: s.js("const a = document.activeElement; return a && a.dataset && a.dataset.id") == aid, 10,
           "focus back on the row")
    open_detail(s, none)
    assert text_of(s, "#detail-params") == "No parameters."


@test
def keyboard_and_settings_defects_stay_fixed(h):
    tag = f"keys{os.getpid()}"
    ids = [h.uid("keys") for _ in range(3)]
    for i, aid in enumerate(ids):
        h.server.create(aid, summary=f"{tag} item {i}")
    s = h.session()
    set_search(s, tag)
    wait_rows(s, lambda got: set(ids) <= set(got), "the three rows")
    first = row_ids(s)[0]
    # j/k keep working after a checkbox was clicked with the mouse.
    s.click(f'#queue .row[data-id="{first}"] .row-check')
    s.keys("j")
    s.wait(lambda: s.js("const a = document.activeElement; return a && a.dataset && a.dataset.id") == row_ids(s)[1],
           5, "j moved real focus to the next row")
    # The focused row shows a focus ring (keyboard focus is visible).
    assert s.js("return getComputedStyle(document.activeElement).outlineStyle") != "none"
    # Esc in the search box clears the filter too, not only the text.
    s.find("#f-search").click()
    s.keys("\ue00c")
    s.wait(lambda: s.find("#f-search").prop("value") == "" and len(row_ids(s)) > 3, 10, "filter cleared")
    # Settings: a bad URL and threshold are explained next to the fields.
    s.click("#nav-settings")
    url = s.wait_css("#set-url")
    url.clear()
    url.send_keys("not a url")
    exp = s.find("#set-expiring")
    exp.clear()
    exp.send_keys("0")
    s.click("#set-save")
    s.wait(lambda: text_of(s, "#set-url-error"), 5, "the URL error")
    assert s.find("#set-url").attr("aria-invalid") == "true"
    assert s.find("#set-url").attr("aria-describedby") == "set-url-error"
    assert "minute" in text_of(s, "#set-expiring-error")
    # The token is in a file here (no keychain in the test): the hint says so.
    hint = text_of(s, "#set-token-help")
    assert "stored in the OS keychain" not in hint and h.home in hint, hint
    # The demo stays reachable from Settings.
    assert s.find("#settings-start-demo").text == "Try the demo"


@test
def undo_takes_a_decision_back_before_it_leaves_and_not_after(h):
    kept, sent = h.uid("undo"), h.uid("unundone")
    h.server.create(sent)
    h.server.create(kept)
    s = h.session()
    open_detail(s, kept)
    s.click("#approve")
    confirm(s)
    # The decision waits out the undo window (default 5 s) on the device: Undo takes it back.
    s.click("#undo", timeout=5)
    s.wait(lambda: text_of(s, "#detail-id") == kept and s.js("return !!document.getElementById('approve')"), 10,
           "the approval open and decidable again")
    assert s.find("#detail-status").text.endswith("Pending")
    s.click("#nav-outbox")
    s.wait_css("#outbox-empty")
    h.cli("sync")
    assert h.server.approval(kept)["status"] == "pending", "an undone decision reached the server"
    status, trail = h.server.http("GET", f"/approvals/{kept}/audit")
    assert status == 200 and not [e for e in trail["entries"] if e["event"] in ("approved", "denied")], trail
    # Not undone: it leaves after the window, exactly once.
    s.click("#nav-approvals")
    open_detail(s, sent)
    s.click("#approve")
    confirm(s)
    s.wait_css("#undo", timeout=5)
    wait_server(h, sent, "approved", timeout=30)
    status, trail = h.server.http("GET", f"/approvals/{sent}/audit")
    assert len([e for e in trail["entries"] if e["event"] == "approved"]) == 1, trail


def chord(s, *keys):
    """Presses keys together (e.g. Ctrl+Enter): all down, then all up."""
    acts = [{"type": "keyDown", "value": k} for k in keys] + [{"type": "keyUp", "value": k} for k in reversed(keys)]
    s.cmd("POST", f"/session/{s.sid}/actions", {"actions": [{"type": "key", "id": "kb", "actions": acts}]})


@test
def the_keyboard_model_has_a_sheet_one_tab_stop_and_ctrl_enter(h):
    aid = h.uid("kbd")
    h.server.create(aid, summary="Keyboard model")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "the row")
    # The list is one Tab stop: only the cursor row is tabbable, not its checkbox or button.
    assert s.js("return [...document.querySelectorAll('#queue [tabindex=\"0\"], #queue input, #queue button')]"
                ".filter(e => e.tabIndex >= 0).length") == 1
    # j/k announce the row: its accessible name leads with the request.
    name = s.js("return document.querySelector(arguments[0]).getAttribute('aria-label')", f'#queue .row[data-id="{aid}"]')
    assert name.startswith("Keyboard model;") and aid in name and "expires in" in name, name
    s.js("document.querySelector('#queue li.row.cursor').focus()")
    s.keys("?")
    s.wait(lambda: s.js("const d = document.getElementById('shortcuts'); return d && d.open"), 5, "the shortcut sheet")
    assert "Ctrl + Enter" in text_of(s, "#shortcuts")
    s.keys("\ue00c")
    s.wait(lambda: not s.js("return document.getElementById('shortcuts').open"), 5, "the sheet closed")
    s.wait(lambda: s.js("return document.activeElement.matches('#queue li.row.cursor')"), 5, "focus back on the row")
    # Shift+Tab leaves the list in one step, to a control that shows where focus is.
    chord(s, "\ue008", "\ue004")
    s.wait(lambda: not s.js("return document.activeElement.closest('#queue') !== null"), 5, "focus out of the list")
    ring = s.js("const st = getComputedStyle(document.activeElement); return [document.activeElement.id, st.outlineStyle, st.boxShadow]")
    assert ring[1] != "none" or (ring[2] or "none") != "none", f"no focus ring on {ring}"
    # Ctrl+Enter in the deny reason submits the form as a Deny (through the confirmation).
    open_detail(s, aid)
    s.find("#deny-reason").send_keys("release is frozen")
    wait_settled(s)
    chord(s, "\ue009", "\ue007")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "the confirmation")
    assert text_of(s, "#confirm-title").startswith("Deny"), text_of(s, "#confirm-title")
    s.click("#confirm-cancel")


def set_window(s, width, height):
    s.cmd("POST", f"/session/{s.sid}/window/rect", {"width": width, "height": height})
    s.wait(lambda: s.js("return window.innerWidth <= arguments[0] + 20", width), 10, f"window {width}x{height}")


@test
def a_small_window_shows_five_rows_and_the_decision_bar(h):
    tag = f"small{os.getpid()}"
    ids = [h.uid("small") for _ in range(7)]
    create_many(h, ids, summary=f"{tag} small window")
    s = h.session()
    before = s.cmd("GET", f"/session/{s.sid}/window/rect")
    try:
        set_window(s, 760, 520)
        set_search(s, tag)
        wait_rows(s, lambda got: len(got) >= 6, "the rows")
        # At least five whole rows are on screen under the filters (one row of them).
        visible = s.js("""const box = document.getElementById('queue-scroll').getBoundingClientRect();
            return [...document.querySelectorAll('#queue .row[data-id]')].filter(r => {
              const b = r.getBoundingClientRect(); return b.top >= box.top - 1 && b.bottom <= Math.min(box.bottom, innerHeight) + 1;
            }).length""")
        assert visible >= 5, f"{visible} rows visible at 760x520"
        tops = s.js("return [...document.querySelectorAll('.filters > *')].filter(e => e.offsetParent)"
                    ".map(e => Math.round(e.getBoundingClientRect().top + e.getBoundingClientRect().height / 2))")
        assert max(tops) - min(tops) <= 4, f"the filters wrap: {tops}"
        # The sidebar is icons only, each still named for a screen reader.
        assert s.js("return document.getElementById('nav-outbox').getBoundingClientRect().width") < 70
        assert "Outbox" in text_of(s, "#nav-outbox")
        # The decision buttons are on screen without scrolling past the request.
        open_detail(s, ids[0])
        for css in ("#approve", "#deny"):
            inside = s.js("""const b = document.querySelector(arguments[0]).getBoundingClientRect();
                return b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth""", css)
            assert inside, f"{css} is outside the 760x520 window"
    finally:
        s.cmd("POST", f"/session/{s.sid}/window/rect", {"width": before["width"], "height": before["height"]})


@test
def a_bulk_decision_reports_what_it_skipped(h):
    tag = f"skip{os.getpid()}"
    short, fine = h.uid("skipshort"), h.uid("skipfine")
    h.server.create(fine, summary=f"{tag} fine")
    h.server.create(short, summary=f"{tag} short", expires_in_secs=6)
    s = h.session()
    open_tab(s, "all")
    set_search(s, tag)
    wait_rows(s, lambda ids: {short, fine} <= set(ids), "both rows")
    s.click(f'#queue .row[data-id="{short}"] .row-check')
    s.click(f'#queue .row[data-id="{fine}"] .row-check')
    # The short one expires while selected: the bulk decision skips it and says why.
    s.wait(lambda: "status-expired" in s.find(f'#queue .row[data-id="{short}"]').attr("class"), 20, "expired locally")
    s.click("#bulk-approve")
    confirm(s)
    s.wait(lambda: "Not decided" in (text_of(s, "#toasts") or ""), 10, "the skipped report")
    toasts = text_of(s, "#toasts")
    # "(expired)" when its time ran out on this clock, "(already expired)" when the expiry
    # sweep marked it first: either way it is named, with why.
    skipped = toasts.split("Not decided")[1]
    assert (f"{short} (expired)" in skipped or f"{short} (already expired)" in skipped) and fine not in skipped, toasts
    wait_server(h, fine, "approved", timeout=30)


@test
def new_rows_above_keep_the_list_steady(h):
    tag = f"steady{os.getpid()}"
    create_many(h, [h.uid("steady") for _ in range(30)], summary=f"{tag} row")
    s = h.session()
    set_search(s, tag)
    wait_rows(s, lambda ids: len(ids) >= 8, "the rows")
    s.wait(lambda: text_of(s, "#list-count") == "30 approvals", 15, "30 rows")
    s.js("document.getElementById('queue-scroll').scrollTop = 62 * 10")
    s.wait(lambda: s.js("return document.getElementById('queue-scroll').scrollTop") >= 600, 5, "scrolled")

    def first_visible():
        return s.js("""const box = document.getElementById('queue-scroll').getBoundingClientRect();
            const rows = [...document.querySelectorAll('#queue .row[data-id]')]
              .filter(r => r.getBoundingClientRect().top >= box.top - 1)
              .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top);
            return rows.length ? rows[0].dataset.id : null""")
    anchor = first_visible()
    create_many(h, [h.uid("steadynew") for _ in range(3)], summary=f"{tag} new row")
    s.wait(lambda: text_of(s, "#list-count") == "33 approvals", 20, "the new rows counted")
    s.wait(lambda: s.js("return !document.getElementById('new-above').hidden")
           and text_of(s, "#new-above") == "3 new — show", 10, "the new-rows button")
    assert first_visible() == anchor, "the rows under the pointer moved"
    s.click("#new-above")
    s.wait(lambda: s.js("return document.getElementById('queue-scroll').scrollTop") == 0, 5, "back at the top")


@test
def every_view_opens_at_its_top_and_esc_shows_the_cursor_row(h):
    tag = f"scroll{os.getpid()}"
    ids = [h.uid("scroll") for _ in range(40)]
    create_many(h, ids, summary=f"{tag} row")
    s = h.session()
    before = s.cmd("GET", f"/session/{s.sid}/window/rect")
    try:
        set_window(s, 760, 520)
        set_search(s, tag)
        s.wait(lambda: text_of(s, "#list-count") == "40 approvals", 15, "40 rows")
        s.js("document.getElementById('queue-scroll').scrollTop = 62 * 25")
        wait_rows(s, lambda got: len(got) > 0 and all(g in ids for g in got), "rows after scrolling")
        target = s.wait(lambda: s.js("""const box = document.getElementById('queue-scroll').getBoundingClientRect();
            const rows = [...document.querySelectorAll('#queue .row[data-id]')]
              .filter(r => r.getBoundingClientRect().top >= box.top).sort((a, b) => a.dataset.index - b.dataset.index);
            return rows.length > 2 ? rows[2].dataset.id : null"""), 10, "rows on screen")
        s.click(f'#queue .row[data-id="{target}"] .review')
        s.wait(lambda: text_of(s, "#detail-id") == target, 10, "the detail")
        # The detail opens at its top (the headline visible), not at the queue's offset.
        assert s.js("return document.getElementById('view').scrollTop") == 0
        s.js("document.getElementById('view').scrollTop = 400")
        s.keys("j")
        s.wait(lambda: text_of(s, "#detail-id") not in ("", target), 10, "the next detail")
        assert s.js("return document.getElementById('view').scrollTop") == 0, "the next detail opened mid-page"
        shown = text_of(s, "#detail-id")
        # Esc: back to the queue with the cursor row (the one just shown) on screen.
        s.keys("\ue00c")
        s.wait(lambda: s.js("""const r = document.querySelector('#queue li.row.cursor'); if (!r) return false;
            const b = r.getBoundingClientRect(), box = document.getElementById('queue-scroll').getBoundingClientRect();
            return r.dataset.id === arguments[0] && b.top >= box.top - 1 && b.bottom <= box.bottom + 1""", shown),
               10, "the cursor row on screen")
    finally:
        s.cmd("POST", f"/session/{s.sid}/window/rect", {"width": before["width"], "height": before["height"]})


@test
def an_approved_action_that_fails_shows_its_outcome_and_notifies_once(h):
    aid = h.uid("outcome")
    agent = h.uid("outcome-bot")
    create_request(h, aid, agent, "db:migrate", {"migration": "0042_add_index"}, summary="Run migration 0042")
    approve_as_bob(h, aid, "window agreed")
    s = h.session()
    open_tab(s, "all")
    wait_rows(s, lambda ids: aid in ids, "the approved row")
    mark = f'#queue .row[data-id="{aid}"] .outcome-mark'
    s.wait(lambda: s.js("const e = document.querySelector(arguments[0]); return e && e.dataset.outcome", mark) == "waiting",
           20, "approved, not yet executed")
    assert text_of(s, f"{mark} .sr-only") == "Approved, not yet executed"
    open_detail(s, aid)
    s.wait(lambda: "not yet executed" in (text_of(s, "#detail-outcome") or ""), 15, "the outcome section")
    before = len(h.desktop.records("notify"))
    # The agent reports a failure with a long output while the detail is open.
    output = {"error": "lock timeout", "steps": [{"n": i, "ok": i < 20} for i in range(30)]}
    post_result(h, aid, "failed", output)
    s.wait(lambda: "Failed" in (text_of(s, "#detail-outcome") or ""), 30, "the open detail to show the failure")
    assert s.js("return document.querySelector('#detail-outcome').dataset.outcome") == "failed"
    # Long output is folded behind "Show all", and is the agent's JSON, formatted.
    assert s.js("return document.getElementById('detail-output-more').open") is False
    assert json.loads(text_of(s, "#detail-output")) == output
    s.click("#detail-output-more summary")
    s.wait(lambda: s.js("return document.getElementById('detail-output').offsetHeight > 0"), 5, "the whole output")
    n = wait_for(lambda: next((r for r in h.desktop.records("notify")[before:]
                               if "Failed after approval" in r["summary"] and agent in r["summary"]), None),
                 30, "a notification of the failure")
    assert n["body"] == "Run migration 0042", n
    # The row's mark changed in place.
    s.keys("\ue00c")
    s.wait(lambda: s.js("const e = document.querySelector(arguments[0]); return e && e.dataset.outcome", mark) == "failed",
           20, "the failed mark in the queue")
    assert text_of(s, f"{mark} .sr-only") == "Execution failed"
    # Announced once: another change to the queue does not repeat it.
    h.server.create(h.uid("after-outcome"), agent=agent)
    wait_for(lambda: any(agent in r["summary"] and "wants" in r["summary"]
                         for r in h.desktop.records("notify")[before:]), 30, "the next notification")
    fails = [r for r in h.desktop.records("notify")[before:] if "Failed after approval" in r["summary"] and agent in r["summary"]]
    assert len(fails) == 1, fails


@test
def the_detail_shows_recent_activity_and_what_changed_since_the_last_approval(h):
    agent = h.uid("diff-bot")
    first, denied, now = h.uid("diff-first"), h.uid("diff-denied"), h.uid("diff-now")
    create_request(h, first, agent, "k8s:scale", {"spec": {"replicas": 3}, "image": "web:v1", "dry_run": False})
    approve_as_bob(h, first, "capacity checked")
    create_request(h, denied, agent, "k8s:scale", {"spec": {"replicas": 300}, "image": "web:v1"})
    status, body = h.server.http("POST", f"/approvals/{denied}/deny", body={"reason": "far too many"})
    assert status == 200, (status, body)
    create_request(h, now, agent, "k8s:scale", {"spec": {"replicas": 5}, "image": "web:v1", "force": True})
    s = h.session()
    open_detail(s, now)
    s.wait_css("#params-diff", 15)
    assert s.js("return document.querySelector('#params-diff tr[data-path=\"spec.replicas\"] .diff-old').textContent") == "3"
    assert s.js("return document.querySelector('#params-diff tr[data-path=\"spec.replicas\"] .diff-new').textContent") == "5"
    assert "added" in text_of(s, '#params-diff tr.diff-added[data-path="force"]')
    assert "removed" in text_of(s, '#params-diff tr.diff-removed[data-path="dry_run"]')
    assert text_of(s, "#diff-unchanged summary") == "1 unchanged"
    assert first in text_of(s, "#diff-against") and "bob" in text_of(s, "#diff-against")
    # Recent activity: the agent's other requests for this action, and the last decisions.
    assert text_of(s, "#activity-7 .count-approved") == "1"
    assert text_of(s, "#activity-7 .count-denied") == "1"
    assert text_of(s, "#activity-30 .count-pending") == "0"
    d = text_of(s, f'#activity-decisions li[data-id="{denied}"]')
    assert "bob" in d and "far too many" in d, d
    shot(s, "detail-context")
    # Each decision is a click away; the first of its kind has nothing to compare with.
    s.click(f'#activity-decisions li[data-id="{first}"] button')
    s.wait(lambda: text_of(s, "#detail-id") == first, 15, "the earlier approval's detail")
    s.wait_css("#diff-first", 15)
    assert "First request of its kind" in text_of(s, "#diff-first")


@test
def new_approval_sends_a_desktop_notification_and_a_click_opens_it(h):
    s = h.session()
    s.wait_css("#queue")
    before = len(h.desktop.records("notify"))
    aid = h.uid("notify")
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


def notification_for(h, before, pred, what, timeout=30):
    """The first Notify call after the first `before` records that matches `pred`."""
    return wait_for(lambda: next((r for r in h.desktop.records("notify")[before:] if pred(r)), None),
                    timeout, what)


def cached_ids(h, status, agent):
    """Ids of the cached approvals with `status` from `agent`, read from the store alone."""
    page = json.loads(h.cli("queue", "--status", status, "--agent", agent, "--json").stdout)
    return [a["id"] for a in page["items"]]


def set_approve_from_notification(s, on):
    s.click("#nav-settings")
    s.wait_css("#set-approve-notif")
    if s.find("#set-approve-notif").prop("checked") != on:
        s.click("#set-approve-notif")
    s.click("#set-save")
    s.wait(lambda: "Settings saved" in (text_of(s, "#toasts") or ""), 10, "settings saved")


@test
def remind_me_announces_the_approval_again_and_review_opens_it(h):
    s = h.session()
    s.wait_css("#queue")
    agent = f"snooze-bot-{os.getpid()}"
    before = len(h.desktop.records("notify"))
    aid = h.uid("snooze")
    h.server.create(aid, agent=agent, action="e2e:snooze", summary="Snooze me")
    n = notification_for(h, before, lambda r: agent in r["summary"], "the new-approval notification")
    actions = dict(zip(n["actions"][::2], n["actions"][1::2]))
    assert actions.get("open") == "Review", actions
    assert actions.get("snooze", "").startswith("Remind me in"), actions
    # The Approve button is off by default.
    assert "approve" not in actions, actions
    after_first = len(h.desktop.records("notify"))
    h.desktop.click(n["id"], "snooze")
    # Announced again once the snooze is over (CS_SNOOZE_SECS in the harness), not before.
    snoozed_at = time.time()
    again = notification_for(h, after_first, lambda r: r["summary"].startswith("Reminder:") and agent in r["summary"],
                             "the reminder after the snooze")
    waited = time.time() - snoozed_at
    assert waited >= 3, f"reminder after {waited:.1f} s, the snooze is 4 s"
    assert "Snooze me" in again["body"], again
    assert "snooze" in again["actions"], again
    # "Review" on the reminder opens the approval.
    s.click("#nav-settings")
    s.wait_css("#settings-form")
    h.desktop.click(again["id"], "open")
    s.wait(lambda: detail_id(s) == aid, 15, "the approval opened by Review")
    # Once only: after the next announcement, still one reminder for it.
    later = h.uid("snooze")
    mark = len(h.desktop.records("notify"))
    h.server.create(later, agent=agent, action="e2e:snooze", summary="Another one")
    notification_for(h, mark, lambda r: agent in r["summary"] and not r["summary"].startswith("Reminder:"),
                     "the next new-approval notification")
    reminders = [r for r in h.desktop.records("notify") if r["summary"].startswith("Reminder:") and agent in r["summary"]]
    assert len(reminders) == 1, reminders


@test
def approve_from_a_notification_goes_through_the_outbox(h):
    s = h.session()
    set_approve_from_notification(s, True)
    try:
        agent = f"approve-bot-{os.getpid()}"
        before = len(h.desktop.records("notify"))
        aid, gone = h.uid("notif-approve"), h.uid("notif-approve")
        h.server.create(aid, agent=agent, action="e2e:approve", summary="Approve me from the notification")
        n = notification_for(h, before, lambda r: agent in r["summary"] and "Approve me" in r["body"],
                             "the notification with Approve")
        assert "approve" in n["actions"], n
        h.desktop.click(n["id"], "approve")
        a = wait_server(h, aid, "approved")
        assert a["decision"]["by"] == "alice", a["decision"]
        assert a["decision"]["notes"] == "Approved from a notification", a["decision"]
        # Decided elsewhere before the click: nothing is approved, and a notification says why.
        mark = len(h.desktop.records("notify"))
        h.server.create(gone, agent=agent, action="e2e:approve", summary="Bob takes this one")
        n2 = notification_for(h, mark, lambda r: agent in r["summary"] and "Bob takes" in r["body"],
                              "the second notification")
        status, body = h.server.http("POST", f"/approvals/{gone}/deny", body={"reason": "bob said no"})
        assert status == 200, (status, body)
        # `queue` reads the cache only (`show` would fetch from the server and write what it got
        # into the cache, so waiting on it passed at once whatever the app had synced).
        wait_for(lambda: gone in cached_ids(h, "denied", agent), 20, "the app's cache to see bob's deny")
        mark = len(h.desktop.records("notify"))
        h.desktop.click(n2["id"], "approve")
        why = notification_for(h, mark, lambda r: r["summary"].startswith("Nothing was approved"),
                               "the explanation of the refused approve")
        assert gone in why["summary"], why
        assert h.server.approval(gone)["decision"]["by"] == "bob"
    finally:
        set_approve_from_notification(s, False)


def set_digest(s, on, times=("09:00", "17:00")):
    s.click("#nav-settings")
    s.wait_css("#set-digest")
    if s.find("#set-digest").prop("checked") != on:
        s.click("#set-digest")
    for i, t in enumerate(times, 1):
        # A time input takes its value from script (typing into it is locale-dependent).
        s.js(f"const e = document.getElementById('set-digest-{i}'); e.value = arguments[0];", t)
    s.click("#set-save")
    s.wait(lambda: "Settings saved" in (text_of(s, "#toasts") or ""), 10, "settings saved")


@test
def the_digest_of_a_missed_time_comes_once_and_not_after_a_restart(h):
    now = time.localtime()
    if now.tm_hour == 0 and now.tm_min < 2:
        print("    skipped: a minute after midnight, 'earlier today' does not exist yet")
        return
    two_min_ago = time.strftime("%H:%M", time.localtime(time.time() - 120))
    a_min_ago = time.strftime("%H:%M", time.localtime(time.time() - 60))
    s = h.session()
    h.server.create(h.uid("digest"))
    before = len(h.desktop.records("notify"))

    def is_digest(r):
        t = r["summary"]
        return "new approvals" not in t and (t.endswith(" waiting") or " waiting, " in t)

    try:
        # Both times passed today while the digest was off: one digest, once.
        set_digest(s, True, (two_min_ago, a_min_ago))
        d = notification_for(h, before, is_digest, "the digest")
        assert "approval" in d["summary"] and "No approvals" not in d["summary"], d
        # A restart does not give it again: after the next announcement, still one.
        h.end_session()
        s = h.session()
        agent = f"digest-bot-{os.getpid()}"
        mark = len(h.desktop.records("notify"))
        h.server.create(h.uid("digest"), agent=agent)
        notification_for(h, mark, lambda r: agent in r["summary"], "a notification after the restart")
        digests = [r for r in h.desktop.records("notify")[before:] if is_digest(r)]
        assert len(digests) == 1, digests
    finally:
        set_digest(s, False)


@test
def a_deny_reason_chosen_by_keyboard_reaches_the_server_verbatim(h):
    first, second = h.uid("reason"), h.uid("reason")
    h.server.create(first)
    h.server.create(second)
    reason = f"Outside the change window — retry after 18:00 <b>&amp; {first[-6:]}</b>"
    # The approver denied with this reason before (from this device, through the CLI).
    h.sign_in()
    h.cli("deny", first, "--reason", reason)
    s = h.session()
    open_detail(s, second)
    field = s.find("#deny-reason")
    assert field.attr("role") == "combobox"
    field.click()
    field.send_keys("\ue015")  # ArrowDown: the list opens on the most recent reason
    s.wait(lambda: s.js("return document.getElementById('deny-reason').getAttribute('aria-expanded')") == "true",
           10, "the suggestions listbox open")
    active = s.js("const i = document.getElementById('deny-reason').getAttribute('aria-activedescendant');"
                  "return i && document.getElementById(i).querySelector('.combo-text').textContent")
    assert active == reason, (active, reason)
    field.send_keys("\ue007")  # Enter takes it
    s.wait(lambda: field.prop("value") == reason, 5, "the reason in the field")
    assert s.js("return document.getElementById('deny-reason').getAttribute('aria-expanded')") == "false"
    # Still editable; what the field shows is what the agent gets.
    field.send_keys(" (ticket 7)")
    shown = field.prop("value")
    assert shown == reason + " (ticket 7)", shown
    s.click("#deny")
    confirm(s)
    a = wait_server(h, second, "denied")
    assert a["decision"]["reason"] == shown, a["decision"]


@test
def tray_count_follows_the_queue(h):
    s = h.session()
    s.wait_css("#queue")

    def label():
        labels = h.desktop.tray_labels() or []
        return next((l for l in labels if "waiting" in l), None)

    def expect(n):
        text = "1 approval waiting" if n == 1 else f"{n} approvals waiting"
        wait_for(lambda: label() == text, 30, f"tray menu to say {text!r} (it says {label()!r})")

    pending = h.server.pending_count()
    expect(pending)
    icon_before = h.desktop.tray_property("IconName")
    aid = h.uid("tray")
    h.server.create(aid, agent="tray-bot", action="e2e:tray")
    expect(pending + 1)
    # The icon image is redrawn with the new count.
    assert h.desktop.tray_property("IconName") != icon_before
    status, body = h.server.http("POST", f"/approvals/{aid}/approve", body={"notes": "bob handled it"})
    assert status == 200, (status, body)
    expect(pending)
    s.wait(lambda: text_of(s, "#pending-badge") == str(pending), 15, "the badge to follow")


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


def sync_in_page(s, n):
    """The sync the background loop runs, n times, awaited (the app's own command, as the
    page calls it; no toast, unlike the Sync button)."""
    s.js("window.__syncs = 0; for (let i = 0; i < arguments[0]; i++) window.__TAURI__.core.invoke('sync_now')"
         ".then(() => window.__syncs++, () => window.__syncs++);", n)
    s.wait(lambda: s.js("return window.__syncs") == n, 60, f"{n} syncs")


def create_risky(h, aid, summary):
    """A pending approval an approver must look at twice: a failed and an escalated trace
    step, the budget at 95 %, nested parameters."""
    status, body = h.server.http("POST", "/approvals", token=AGENT, body={
        "id": aid,
        "agent": {"id": "billing-agent", "name": "Billing Agent", "version": "v3.2.1"},
        "action": "payments:refund",
        "summary": summary,
        "reason_code": "budget_threshold",
        "reason_text": "Refund exceeds the per-day budget of the billing agent",
        "params": {"customer": "cus_8841", "amount": {"value": 1840, "currency": "EUR"}, "items": ["inv-1", "inv-2"]},
        "policy_trace": [{"step": "tool_authorization", "result": "pass"},
                         {"step": "budget_check", "result": "fail", "detail": "95 % of the daily budget"},
                         {"step": "human_review", "result": "escalate"}],
        "risk": {"budget_used": 95, "budget_limit": 100, "budget_unit": "EUR k"},
    })
    assert status in (200, 201), (status, body)


def axe_every_view(h, theme):
    """axe-core over every view of the app in one theme; 0 serious/critical violations."""
    tour = a11y.Tour(None, theme)
    h.cli("logout")
    s = h.session(signed_in=False)
    tour.s = s
    seen = a11y.theme_in_effect(s)
    want = {"light": (False, "rgb(245, 245, 247)"), "dark": (True, "rgb(27, 27, 29)")}[theme]
    assert (seen["dark"], seen["bg"]) == want, f"the {theme} theme is not in effect: {seen}"
    s.wait_css("#welcome")
    tour.check("welcome / sign-in")
    s.find("#set-expiring").clear()
    s.find("#set-expiring").send_keys("0")
    s.click("#set-save")
    # The app's own message, or at least the field's invalid state (WebKitGTK draws no bubble).
    s.wait_css('.toast-error, [aria-invalid="true"], #set-expiring:invalid', 5)
    tour.check("sign-in form with an invalid threshold")

    risky, plain, other, decided, late = (h.uid(f"a11y-{theme}") for _ in range(5))
    create_risky(h, risky, "Refund 1,840 EUR to cus_8841 for a double charge")
    for aid in (plain, other, decided, late):
        h.server.create(aid, agent="deploy-bot", action="kubernetes:deploy", summary=f"Deploy api:v2.4.1 ({aid})")
    status, body = h.server.http("POST", f"/approvals/{decided}/approve", body={"notes": "checked the diff"})
    assert status == 200, (status, body)
    s = tour.s = h.session()
    wait_rows(s, lambda ids: {risky, plain, other} <= set(ids), "the tour's rows")
    s.click(f'#queue .row[data-id="{plain}"] .row-check')
    s.js("document.querySelector('#queue li.row').focus()")
    s.keys("j")
    s.wait_css("#bulk-approve")
    # A grid of rows that say whether they are selected and where they sit in the whole list.
    grid = s.js("""const q = document.getElementById('queue');
        const row = id => q.querySelector(`.row[data-id="${id}"]`);
        return {role: q.getAttribute('role'), count: q.getAttribute('aria-rowcount'), total: document.getElementById('list-count').textContent,
                picked: row(arguments[0]).getAttribute('aria-selected'), other: row(arguments[1]).getAttribute('aria-selected'),
                cells: row(arguments[0]).querySelectorAll(':scope > [role=gridcell]').length}""", plain, other)
    assert grid["role"] == "grid" and grid["total"] == f"{grid['count']} approvals", grid
    assert (grid["picked"], grid["other"]) == ("true", "false") and grid["cells"] >= 3, grid
    tour.check("queue: rows, cursor row, a selected row, checkboxes, bulk bar")
    s.click("#bulk-approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "the bulk confirmation")
    tour.check("bulk confirmation dialog")
    s.click("#confirm-cancel")
    s.wait(lambda: not s.js("return document.getElementById('confirm').open"), 5, "the dialog to close")

    open_tab(s, "all")
    s.wait_css("#f-status")
    s.wait(lambda: "deploy-bot" in s.js("return [...document.querySelectorAll('#f-agent option')].map(o => o.value)"),
           15, "the agent among the filter values")
    select_value(s, "#f-agent", "deploy-bot")
    wait_rows(s, lambda ids: decided in ids and risky not in ids, "the agent filter")
    tour.check("all tab, filtered by agent")
    s.click("#f-clear")
    open_detail(s, decided)
    s.wait(lambda: "Approved" in (text_of(s, "#detail-status") or ""), 10, "the decided detail")
    tour.check("detail of a decided approval")
    s.keys("\ue00c")
    open_detail(s, risky)
    tour.check("detail: pending, failed trace step, budget 95 %")
    s.keys("\ue00c")
    s.click("#tab-stats")
    s.wait_css("#stat-pending")
    tour.check("stats")

    # Offline, then a decision the server refuses: the banner and a failed outbox entry.
    s.click("#tab-pending")
    wait_rows(s, lambda ids: late in ids, f"{late} pending")
    h.proxy.set_mode("refuse")
    try:
        s.click("#sync-now")
        s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline")
        s.wait_css("#banner.banner-offline")
        tour.check("offline banner")
        status, body = h.server.http("POST", f"/approvals/{late}/deny", body={"reason": "bob got there first"})
        assert status == 200, (status, body)
        open_detail(s, late)
        s.click("#approve")
        confirm(s)
        s.wait(lambda: detail_id(s) != late, 15, f"moved on from {late}")
    finally:
        h.proxy.set_mode("pass")
    sync_in_page(s, 1)
    s.wait(lambda: "not applied" in (text_of(s, "#banner") or ""), 60, "the refused decision in the banner")
    s.click("#nav-outbox")
    dismiss = f'#outbox-list .outbox-item[data-id="{late}"] .ob-dismiss'
    s.wait_css(dismiss, 15)
    tour.check("outbox with a failed entry")
    # Dismissed, so the suite's later tests start without it in the banner.
    s.click(dismiss)
    s.wait(lambda: "not applied" not in (text_of(s, "#banner") or ""), 15, "the banner to stop counting it")
    s.click("#nav-settings")
    s.wait_css("#settings-form")
    tour.check("settings")

    # The demo's realistic data: checked too, and the README's light/dark screenshots.
    s = tour.s = h.session(["--demo"])
    wait_rows(s, lambda ids: {"appr-xyz789", "appr-abc123"} <= set(ids), "demo queue", timeout=30)
    tour.check("demo queue")
    shot(s, f"queue-{theme}")
    open_detail(s, "appr-xyz789")
    tour.check("demo detail")
    shot(s, f"detail-{theme}")
    tour.assert_clean()


@test
def axe_finds_no_serious_violations_in_any_view_light(h):
    axe_every_view(h, "light")


@test
def axe_finds_no_serious_violations_in_any_view_dark(h):
    h.set_theme("dark")
    try:
        axe_every_view(h, "dark")
    finally:
        h.set_theme("light")


@test
def live_regions_speak_once_per_change(h):
    aid, gone = h.uid("live"), h.uid("live")
    h.server.create(aid, summary="Present before the recording")
    h.server.create(gone, summary="Decided by bob during the recording")
    s = h.session()
    wait_rows(s, lambda ids: {aid, gone} <= set(ids), "the queue")
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "online", 20, "online")
    regions = a11y.record_live_regions(s)
    assert "live-status" in regions and "live-news" in regions, regions

    # Syncs, and a decision by bob that shrinks the list: counts and badges change on
    # screen, the connection does not. Nothing is said.
    badge = text_of(s, "#pending-badge")
    sync_in_page(s, 3)
    status, body = h.server.http("POST", f"/approvals/{gone}/approve", body={})
    assert status == 200, (status, body)
    wait_rows(s, lambda ids: gone not in ids, "bob's decision to reach the queue")
    s.wait(lambda: text_of(s, "#pending-badge") != badge, 15, "the badge to follow")
    sync_in_page(s, 3)
    assert a11y.live_changes(s) == [], a11y.live_changes(s)
    # The badges' numbers are in the buttons' names, in words (the bare digits are hidden).
    n = text_of(s, "#pending-badge")
    assert a11y.name_from_content(s, "nav-approvals") == f"Approvals, {n} waiting"
    assert a11y.name_from_content(s, "tab-pending") == f"Pending, {n} waiting"

    # Three arrivals: "3 new approvals", said once.
    fresh = [h.uid("live") for _ in range(3)]
    create_many(h, fresh, summary="arrived while recording")
    wait_rows(s, lambda ids: set(fresh) <= set(ids), "the arrivals")
    s.wait(lambda: a11y.live_changes(s), 10, "an announcement")
    sync_in_page(s, 2)
    news = [c for c in a11y.live_changes(s) if c["region"] == "live-news"]
    said = " ".join(c["text"] for c in news)
    # Each arrival told once: the batches the sync delivered them in add up to three.
    assert sum(int(c["text"].split()[0]) for c in news) == 3 and "new approval" in said, news
    assert not [c for c in a11y.live_changes(s) if c["region"] != "live-news"], a11y.live_changes(s)

    # The connection drops: one announcement, however often the app retries.
    s.js("window.__live = []")
    h.proxy.set_mode("refuse")
    try:
        s.click("#sync-now")
        s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "offline", 30, "offline")
        sync_in_page(s, 3)
        changes = a11y.live_changes(s)
        assert len(changes) == 1 and changes[0]["region"] == "live-status", changes
        assert changes[0]["text"].startswith("Offline"), changes
    finally:
        h.proxy.set_mode("pass")
    # ...and one when it is back.
    s.js("window.__live = []")
    sync_in_page(s, 1)
    s.wait(lambda: s.js("return document.getElementById('conn').dataset.state") == "online", 30, "online again")
    changes = a11y.live_changes(s)
    assert len(changes) == 1 and changes[0]["text"].startswith("Online."), changes


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
    aid, other = h.uid("link"), h.uid("link")
    h.server.create(aid, summary="Opened from a chat message")
    h.server.create(other)
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "queue")
    first = h.app_pids()[0]
    s.click("#nav-settings")
    s.wait_css("#settings-form")
    open_link(h, f"countersign://approvals/{aid}?org={ORG}")
    s.wait(lambda: detail_id(s) == aid, 20, "the approval opened by the link")
    # The running instance took it: no second app.
    assert h.app_pids()[0] == first
    # A link for another org shows a message and nothing else: the detail stays where it was.
    open_link(h, f"countersign://approvals/{other}?org=org-elsewhere")
    wait_for(lambda: "refused a link" in h.app_log_text(), 20, "the refused link in the log")
    s.wait(lambda: "org" in (text_of(s, "#toasts") or ""), 10, "the refused link explained in the window")
    assert detail_id(s) == aid


@test
def a_link_starts_the_app_on_that_approval(h):
    aid = h.uid("link")
    h.server.create(aid, summary="The app was not running")
    h.sign_in()
    h.cli("sync")
    # What the OS does when the app is not running: start it with the link.
    s = h.session([f"countersign://approvals/{aid}?org={ORG}"])
    s.wait(lambda: detail_id(s) == aid, 20, "the approval the app was started for")


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
    s.wait(lambda: s.find("#set-url").prop("value") == h.proxy.url, 10, "the real server URL kept")


@test
def lost_store_key_is_said_in_the_banner(h):
    """The keychain lost the store's key: the app keeps the unreadable file aside, starts a
    new store and says so in the banner; signed in again, the queue fills from the server."""
    h.sign_in()
    aid = h.uid("lost-key")
    h.server.create(aid, summary="Back after the key was lost")
    h.cli("sync")
    h.end_session()
    os.remove(os.path.join(h.home, "device-secrets"))
    s = h.session(signed_in=False)
    s.wait(lambda: "could not be opened" in (text_of(s, "#banner") or ""), 20, "the banner to say the store was lost")
    note = text_of(s, "#store-notice")
    # It says how many queued decisions were lost with it (a count kept beside the store).
    assert "countersign.db.unreadable-" in note, note
    assert re.search(r"No decision was waiting to be sent in it|\d+ decisions? queued offline in it", note), note
    assert any(n.startswith("countersign.db.unreadable-") for n in os.listdir(h.home))
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "the queue refilled from the server")
    assert "could not be opened" not in (text_of(s, "#banner") or ""), "said once, not on every start"


@test
def a_revoked_token_signs_the_app_out_and_keeps_the_decision(h):
    """The laptop's token is revoked on the server (issue 16 §3): the app says "signed out:
    sign in again" (pushed by the engine, not found by polling), the decision stays queued,
    and signed in again it is delivered."""
    out = subprocess.run([h.server.bin, "add-token", "--db", h.server.db, "--org", ORG, "--role", "approver",
                          "--subject", "alice"], capture_output=True, text=True, check=True)
    token = out.stdout.strip()
    tok_id = re.search(r"token id: (tok_[0-9a-f]{12})", out.stderr).group(1)
    aid = h.uid("revoked")
    h.server.create(aid, summary="Decided after the token was revoked")
    h.cli("login", "--server", h.proxy.url, "--org", ORG, "--token-stdin", stdin=token)
    s = h.session(signed_in=False)
    open_detail(s, aid)
    subprocess.run([h.server.bin, "revoke-token", "--db", h.server.db, "--id", tok_id],
                   capture_output=True, text=True, check=True)
    s.click("#approve")
    confirm(s)
    s.wait(lambda: "Signed out: sign in again." in (text_of(s, "#banner") or ""), 40, "the signed-out banner")
    banner = text_of(s, "#banner")
    assert "revoked" in banner and "1 decision waiting to be sent" in banner, banner
    assert text_of(s, "#conn-text") == "Signed out"
    assert h.server.approval(aid)["status"] == "pending"
    # Signing in again (here from the terminal) wakes the app, which sends the decision.
    h.sign_in()
    wait_server(h, aid, "approved")
    s.wait(lambda: "Signed out" not in (text_of(s, "#banner") or ""), 30, "the banner to go")


# ---- The desktop decides only when its user does (issue 16, part 7) ----

def forge_click(nid, action, close=False):
    """A second process on the session bus (not the notification daemon) emits the signal."""
    cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "forge_click.py"), str(nid), action]
    r = subprocess.run(cmd + (["--close"] if close else []), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    return r.stdout.strip()


def ignored_in_log(h, nid, action):
    return f'notification action ignored: id={nid} action="{action}"' in h.app_log_text()


def local_status(h, aid):
    """What the app's own store says (the CLI reads the same files)."""
    return json.loads(h.cli("show", aid, "--json").stdout)


@test
def a_forged_notification_click_from_another_process_decides_nothing(h):
    s = h.session()
    set_approve_from_notification(s, True)
    try:
        agent = f"forged-bot-{os.getpid()}"
        before = len(h.desktop.records("notify"))
        aid = h.uid("forged")
        h.server.create(aid, agent=agent, action="e2e:forge", summary="Approve me only if a human clicks")
        n = notification_for(h, before, lambda r: agent in r["summary"], "the notification with Approve")
        assert "approve" in n["actions"], n
        # Another program of the user's session emits the daemon's signal, then a close
        # (which must not drop the real notification either).
        assert forge_click(n["id"], "approve", close=True).startswith(":"), "the forger had no bus name"
        # Refused (and said so in the log), or taken: whichever the app does first.
        wait_for(lambda: ignored_in_log(h, n["id"], "approve") or local_status(h, aid)["status"] != "pending", 20,
                 "the app to act on the forged click")
        assert local_status(h, aid)["status"] == "pending", f"a forged click decided it: {local_status(h, aid)['status']}"
        assert ignored_in_log(h, n["id"], "approve"), "the forged click was not logged as refused"
        # An approve for an id the app never showed: refused too.
        forge_click(999999, "approve")
        wait_for(lambda: ignored_in_log(h, 999999, "approve"), 20, "the unknown id refused in the log")
        assert "not by the notification daemon" in h.app_log_text()
        assert local_status(h, aid)["status"] == "pending", local_status(h, aid)
        h.cli("sync")
        assert h.server.approval(aid)["status"] == "pending", "a forged click approved it"
        # The daemon's own click still works (through the undo hold, then sent).
        h.desktop.click(n["id"], "approve")
        a = wait_server(h, aid, "approved")
        assert a["decision"]["notes"] == "Approved from a notification", a["decision"]
    finally:
        set_approve_from_notification(s, False)


@test
def a_notification_offers_only_its_own_buttons(h):
    s = h.session()
    s.wait_css("#queue")
    agent = f"nobutton-bot-{os.getpid()}"
    before = len(h.desktop.records("notify"))
    aid = h.uid("nobutton")
    h.server.create(aid, agent=agent, action="e2e:nobutton", summary="No Approve button on me")
    n = notification_for(h, before, lambda r: agent in r["summary"], "the notification without Approve")
    assert "approve" not in n["actions"], n
    # Even the daemon cannot click a button the notification did not show.
    h.desktop.click(n["id"], "approve")
    wait_for(lambda: ignored_in_log(h, n["id"], "approve"), 20, "the approve refused in the log")
    assert local_status(h, aid)["status"] == "pending"


@test
def approve_from_a_notification_waits_out_the_undo_window(h):
    s = h.session()
    set_approve_from_notification(s, True)
    try:
        agent = f"undo-notif-bot-{os.getpid()}"
        before = len(h.desktop.records("notify"))
        aid = h.uid("notif-undo")
        h.server.create(aid, agent=agent, action="e2e:undo", summary="Approve me, then think again")
        n = notification_for(h, before, lambda r: agent in r["summary"], "the notification with Approve")
        mark = len(h.desktop.records("notify"))
        h.desktop.click(n["id"], "approve")
        # Held like an approve from the window: a notification says so and offers Undo.
        held = notification_for(h, mark, lambda r: r["summary"].startswith(f"Approving {aid} in"), "the Undo notification")
        assert "undo" in held["actions"], held
        h.desktop.click(held["id"], "undo")
        wait_for(lambda: "approve from a notification undone" in h.app_log_text(), 20, "the undo in the log")
        assert local_status(h, aid)["status"] == "pending", local_status(h, aid)
        h.cli("sync")
        assert h.server.approval(aid)["status"] == "pending", "an undone approve reached the server"
        status, trail = h.server.http("GET", f"/approvals/{aid}/audit")
        assert status == 200 and not [e for e in trail["entries"] if e["event"] == "approved"], trail
    finally:
        set_approve_from_notification(s, False)


class FocusHolder:
    """Another app with the keyboard focus on the display (tests/e2e/focus_holder.py)."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "focus_holder.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def has_focus(self):
        self.proc.stdin.write("focus?\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


@test
def a_link_does_not_take_the_keyboard_from_another_app(h):
    aid = h.uid("nofocus")
    h.server.create(aid, summary="Opened by a link while typing elsewhere")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "queue")
    other = FocusHolder()
    try:
        assert other.has_focus() == "yes"
        open_link(h, f"countersign://approvals/{aid}?org={ORG}")
        s.wait(lambda: detail_id(s) == aid, 20, "the approval opened by the link")
        # The app navigated (after raising itself, had it done so); the keyboard stayed with
        # the other app, and the app asked for attention instead.
        assert other.has_focus() == "yes", "the link took the keyboard focus"
        wait_for(lambda: "attention requested" in h.app_log_text(), 10, "the attention request in the log")
    finally:
        other.close()


@test
def shift_a_then_enter_right_after_a_link_decides_nothing(h):
    aid = h.uid("settle")
    h.server.create(aid, summary="Shown by a link under the approver's fingers")
    s = h.session()
    wait_rows(s, lambda ids: aid in ids, "queue")
    # Shift+A pressed the moment the approval appears (dispatched in the page: a WebDriver
    # round trip on a busy machine can take longer than the guard), then a real Enter:
    # keys already on their way, meant for what was on screen before.
    s.js("""const aid = arguments[0];
        const obs = new MutationObserver(() => {
          const el = document.getElementById('detail-id');
          if (!el || el.textContent !== aid) return;
          obs.disconnect();
          (document.activeElement || document.body).dispatchEvent(
            new KeyboardEvent('keydown', {key: 'A', shiftKey: true, bubbles: true, cancelable: true}));
        });
        obs.observe(document.getElementById('view'), {childList: true, subtree: true});""", aid)
    open_link(h, f"countersign://approvals/{aid}?org={ORG}")
    s.wait(lambda: detail_id(s) == aid, 20, "the approval opened by the link", interval=0.02)
    s.keys("\ue007")
    s.wait(lambda: "Shift+A ignored" in (text_of(s, "#toasts") or ""), 5, "the shortcut said to be ignored")
    assert not s.js("return document.getElementById('confirm').open"), "a confirmation opened"
    assert detail_id(s) == aid and s.js("return !!document.getElementById('approve')"), "the approval moved on"
    assert local_status(h, aid)["status"] == "pending"
    # Once settled, the shortcut works (and still asks).
    wait_settled(s)
    s.keys("A")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "the confirmation")
    s.click("#confirm-cancel")


@test
def the_confirmation_defaults_to_cancel(h):
    aid = h.uid("cancel-default")
    h.server.create(aid, summary="Enter alone must not approve me")
    s = h.session()
    open_detail(s, aid)
    wait_settled(s)
    s.keys("A")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "the confirmation")
    assert s.js("return document.activeElement && document.activeElement.id") == "confirm-cancel"
    s.keys("\ue007")
    s.wait(lambda: not s.js("return document.getElementById('confirm').open"), 5, "the dialog closed by Enter")
    assert detail_id(s) == aid and s.js("return !!document.getElementById('approve')"), "Enter decided"
    assert local_status(h, aid)["status"] == "pending"


def create_with_controls(h, aid, agent, summary):
    """An agent's request whose summary carries markup and the invisible characters the server
    still accepts in text (a right-to-left mark U+200F, a zero-width joiner U+200D: the
    overrides such as U+202E are refused with a 400, issue 16 §1)."""
    body = {"id": aid, "agent": {"id": agent, "name": "E2E Bot"}, "action": "e2e:marks", "summary": summary,
            "reason_code": "requires_approval", "reason_text": "needs a human", "params": {"n": 1}}
    status, out = h.server.http("POST", "/approvals", token=AGENT, body=body)
    assert status in (200, 201), (status, out)


@test
def notification_bodies_are_escaped_and_marked(h):
    s = h.session()
    s.wait_css("#queue")
    agent = f"marks-bot-{os.getpid()}"
    before = len(h.desktop.records("notify"))
    aid = h.uid("marks")
    create_with_controls(h, aid, agent, "<b>Ship</b> & \u200fgpj.exe a\u200db")
    n = notification_for(h, before, lambda r: agent in r["summary"], "the notification")
    assert n["body"] == "&lt;b&gt;Ship&lt;/b&gt; &amp; \u27e8U+200F\u27e9gpj.exe a\u27e8U+200D\u27e9b", n


@test
def the_confirmation_shows_agent_text_as_the_detail_does(h):
    aid = h.uid("dialog-marks")
    create_with_controls(h, aid, "dialog-bot", "Refund invoice \u200fgpj.exe")
    s = h.session()
    open_detail(s, aid)
    s.click("#approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 5, "the confirmation")
    shown = text_of(s, "#confirm-body .dialog-summary")
    assert "\u200f" not in shown, repr(shown)
    chips = s.js("return [...document.querySelectorAll('#confirm-body .dialog-summary .ctl-chip')].map(c => c.textContent)")
    assert chips == ["\u27e8U+200F\u27e9"], chips
    # The same rendering as the detail's heading.
    assert shown == text_of(s, "#detail-heading"), (shown, text_of(s, "#detail-heading"))
    s.click("#confirm-cancel")


@test
def a_bulk_confirmation_warns_about_rows_scrolled_away(h):
    tag = f"farbulk{os.getpid()}"
    risky = h.uid("farrisky")
    create_many(h, [h.uid("farcalm") for _ in range(300)], summary=f"{tag} calm row")
    # Last, so newest first puts it at the top.
    create_risky(h, risky, f"{tag} risky refund")
    s = h.session()
    set_search(s, tag)
    s.wait(lambda: text_of(s, "#list-count") == "301 approvals", 30, "301 rows")
    wait_rows(s, lambda ids: ids and ids[0] == risky, "the risky row first (newest)")
    s.click(f'#queue .row[data-id="{risky}"] .row-check')
    # Far down: the list reads the rows there and lets go of those at the top.
    s.js("const q = document.getElementById('queue-scroll'); q.scrollTop = q.scrollHeight")
    s.wait(lambda: (s.js("const i = [...document.querySelectorAll('#queue .row[data-id]')].map(r => +r.dataset.index);"
                         " return i.length ? Math.min(...i) : 0") or 0) > 250, 15, "the rows at the bottom")
    assert risky not in row_ids(s)
    s.click("#bulk-approve")
    s.wait(lambda: s.js("return document.getElementById('confirm').open"), 10, "the bulk confirmation")
    warnings = text_of(s, "#confirm-warnings") or ""
    assert f"{risky}: 1 step failed, budget 95%" in warnings, warnings
    s.click("#confirm-cancel")


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
