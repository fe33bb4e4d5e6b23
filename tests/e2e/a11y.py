"""Accessibility checks inside the real app: axe-core and live-region recording.

axe-core (pinned in package.json, installed by run.sh) is injected through WebDriver's
execute-script, which WebKit evaluates in the page's own world as automation: the page's
Content-Security-Policy (script-src 'self') governs what the page loads, not what the
driver evaluates, so the shipped CSP stays as it is and nothing of axe ships with the app.
"""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
# WCAG 2.0, 2.1 and 2.2, levels A and AA.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
BLOCKING = ("serious", "critical")

_source = None


def _axe_source():
    global _source
    if _source is None:
        if not os.path.exists(AXE):
            raise AssertionError(f"{AXE} is missing: run `npm ci` (tests/e2e/run.sh does)")
        with open(AXE, encoding="utf-8") as f:
            _source = f.read()
    return _source


def inject(s):
    """Loads axe into the page once (the app is one page: it stays across views)."""
    if s.js("return typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        return
    s.js(_axe_source() + "\n;return typeof window.axe;")
    assert s.js("return typeof window.axe.run") == "function", "axe-core did not load in the page"


def run(s, what):
    """Runs axe over the whole document; returns its violations, trimmed for printing."""
    inject(s)
    s.js("""
        window.__axe = null;
        window.axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations', 'incomplete']})
          .then(r => { window.__axe = JSON.stringify({
              violations: r.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))})),
              // What axe could not decide (printed, not failed: a person has to look).
              incomplete: r.incomplete.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ') + ': '
                + [...n.any, ...n.all, ...n.none].map(c => c.message).filter(Boolean).join('; '))}))}); },
                e => { window.__axe = JSON.stringify({error: String(e)}); });
    """, TAGS)
    raw = s.wait(lambda: s.js("return window.__axe"), 60, f"axe over {what}", interval=0.5)
    out = json.loads(raw)
    if "error" in out:
        raise AssertionError(f"axe failed over {what}: {out['error']}")
    for v in out["incomplete"]:
        print(f"    axe [{what}] undecided, needs a person: {v['id']}")
        for n in v["nodes"][:12]:
            print(f"        {' '.join(n.split())[:240]}")
        if len(v["nodes"]) > 12:
            print(f"        …and {len(v['nodes']) - 12} more")
    return out["violations"]


def self_check(s):
    """axe's contrast rule works in this WebKit: a probe of #777 on white (4.48:1) is a
    serious violation. Without this, a rule that could not measure anything here would
    pass every view."""
    inject(s)
    s.js("""
        const p = document.createElement('p');
        p.id = 'axe-probe'; p.textContent = 'contrast probe';
        p.style.cssText = 'position:fixed;left:0;bottom:0;margin:0;color:#777777;background:#ffffff;font-size:13px';
        document.body.append(p);
        window.__axe = null;
        window.axe.run('#axe-probe', {runOnly: {type: 'rule', values: ['color-contrast']}})
          .then(r => { window.__axe = JSON.stringify(r.violations.map(v => [v.id, v.impact])); p.remove(); },
                e => { window.__axe = JSON.stringify(String(e)); p.remove(); });
    """)
    got = json.loads(s.wait(lambda: s.js("return window.__axe"), 60, "axe over the probe", interval=0.5))
    assert got == [["color-contrast", "serious"]], f"axe did not flag #777 on white: {got}"


def report(what, violations):
    """Prints every violation (id, impact, target, what is wrong); returns the blocking ones."""
    for v in violations:
        print(f"    axe [{what}] {v['impact']}: {v['id']} ({v['help']})")
        for n in v["nodes"][:8]:
            summary = " ".join((n["summary"] or "").split())
            print(f"        {n['target']}: {summary[:300]}")
        if len(v["nodes"]) > 8:
            print(f"        …and {len(v['nodes']) - 8} more")
    if not violations:
        print(f"    axe [{what}] no violations")
    return [v for v in violations if v["impact"] in BLOCKING]


class Tour:
    """Collects axe results over several views, so one run reports every failing view."""

    def __init__(self, s, theme):
        self.s = s
        self.theme = theme
        self.blocking = []
        self.views = []

    def check(self, view):
        if not self.views:
            self_check(self.s)
        what = f"{self.theme}: {view}"
        self.views.append(view)
        for v in report(what, run(self.s, what)):
            self.blocking.append(f"{what}: {v['impact']} {v['id']} ({len(v['nodes'])} node(s))")

    def assert_clean(self):
        assert not self.blocking, "serious/critical axe violations:\n  " + "\n  ".join(self.blocking)
        print(f"    axe: 0 serious/critical violations over {len(self.views)} views ({self.theme})")


def theme_in_effect(s):
    """What the page sees: the media query and the body's computed background."""
    return s.js("return {dark: matchMedia('(prefers-color-scheme: dark)').matches,"
                " bg: getComputedStyle(document.body).backgroundColor}")


LIVE_SELECTOR = "[aria-live]:not([aria-live=off]), [role=status], [role=alert], [role=log]"


def record_live_regions(s):
    """Starts recording every change inside the page's live regions (each childList or
    characterData mutation is one thing a screen reader may say). Regions are found
    now; the toasts host is left out here as its messages answer the user's own actions."""
    s.js("""
        window.__live = [];
        const regions = [...document.querySelectorAll(arguments[0])].filter(e => !e.closest('#toasts'));
        window.__liveObserver && window.__liveObserver.disconnect();
        window.__liveObserver = new MutationObserver(ms => ms.forEach(m => {
            const r = (m.target.nodeType === 1 ? m.target : m.target.parentElement).closest(arguments[0]);
            window.__live.push({region: r ? (r.id || r.className) : '?', text: r ? r.textContent : ''});
        }));
        regions.forEach(r => window.__liveObserver.observe(r, {childList: true, subtree: true, characterData: true}));
        window.__liveRegions = regions.map(r => r.id || r.className);
    """, LIVE_SELECTOR)
    return s.js("return window.__liveRegions")


def live_changes(s):
    return s.js("return window.__live")




def name_from_content(s, element_id):
    """An element's name from its content as assistive technology reads it: text without
    what is aria-hidden, whitespace collapsed (enough for buttons named by their text)."""
    return s.js("""
        const c = document.getElementById(arguments[0]).cloneNode(true);
        c.querySelectorAll('[aria-hidden=true]').forEach(e => e.remove());
        return c.textContent.replace(/\\s+/g, ' ').replace(/ ,/g, ',').trim();
    """, element_id)
