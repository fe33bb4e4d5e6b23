"""Benchmark: Countersign (10,000 cached approvals) against a hello-world Tauri 2 app
(benches/hello, same Tauri and release profile), in one run on the same Xvfb, alternating:

- start: process spawn to first content on screen (hello: its `#hello` element; Countersign:
  the first queue row), the same way for both (below);
- idle PSS of each whole process tree (app + WebKit processes), from /proc/<pid>/smaps_rollup;
- idle CPU (utime + stime of the tree, % of one core) of hello on its page and of Countersign on
  each view (queue, All, a detail, stats, outbox, settings, window closed to the tray).

Run through `tests/e2e/run.sh --bench` (Xvfb + private D-Bus session). Prints figures;
asserts nothing about them (benchmarks report, tests decide).

How start is measured, identically for both apps: tauri-driver -> WebKitWebDriver spawns the
app; the spawn time is the app process's start time from /proc/<pid>/stat (boot clock, 10 ms
ticks). As soon as the WebDriver session exists, a script in the page waits (MutationObserver)
for the element, then for the next frame to be drawn, and returns the wall-clock time of that
frame ("observed"). If the element was already there when the script first ran (WebDriver runs
scripts only after the page's load event) and it is all the page shows, the first contentful
paint (Paint Timing) is the frame that drew it ("fcp": the hello page); otherwise the figure is
only an upper bound ("upper"). The phases printed with it: spawn -> navigation start (process,
GTK, WebKit processes, webview) -> first contentful paint -> first content.
"""

import ctypes
import ctypes.util
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness  # noqa: E402
from wd import Session  # noqa: E402

N = int(os.environ.get("CS_BENCH_APPROVALS", "10000"))
RUNS = int(os.environ.get("CS_BENCH_RUNS", "5"))
# Idle CPU is averaged over this window, after SETTLE seconds with nothing happening.
# 30 s: one whole period of the app's 30 s timers, so periodic work is counted at its average.
IDLE_SECS = float(os.environ.get("CS_BENCH_IDLE_SECS", "30"))
SETTLE_SECS = float(os.environ.get("CS_BENCH_SETTLE_SECS", "8"))
HELLO = os.environ["CS_HELLO"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024

HELLO_SEL = "#hello"
QUEUE_SEL = "#queue .row"

# Runs in the page: resolves with {t: wall-clock ms of the first frame drawn with `sel` in it,
# how: "observed" | "fcp" | "upper", and the navigation start, load end and FCP (wall ms)}.
WAIT_FOR_CONTENT = """
const [sel, done] = arguments;
const wall = (ms) => performance.timeOrigin + ms;
const fcp = () => performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint');
let finished = false;
const finish = (t, how) => {
  if (finished) return;
  finished = true;
  const n = performance.getEntriesByType('navigation')[0];
  const f = fcp();
  done({t: wall(t), how, origin: performance.timeOrigin, load: n ? wall(n.loadEventEnd) : null,
        fcp: f ? wall(f.startTime) : null});
};
const el = document.querySelector(sel);
if (el) {
  // Already there: if it is all the page shows, the first contentful paint drew it (the
  // script may run after the load event but before that paint: wait for it, briefly).
  const alone = document.body.innerText.trim() === el.innerText.trim();
  if (!alone) finish(performance.now(), 'upper');
  else if (fcp()) finish(fcp().startTime, 'fcp');
  else {
    new PerformanceObserver((list, obs) => {
      const f = list.getEntries().find((e) => e.name === 'first-contentful-paint');
      if (f) { obs.disconnect(); finish(f.startTime, 'fcp'); }
    }).observe({type: 'paint', buffered: true});
    setTimeout(() => finish(performance.now(), 'upper'), 5000);
  }
} else {
  const mo = new MutationObserver(() => {
    if (!document.querySelector(sel)) return;
    mo.disconnect();
    // The frame that shows it: after the next animation frame has been drawn.
    requestAnimationFrame(() => setTimeout(() => finish(performance.now(), 'observed'), 0));
  });
  mo.observe(document, {childList: true, subtree: true});
}
"""


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def stat_fields(pid):
    """Fields of /proc/<pid>/stat from field 3 (state) on: the name may hold spaces."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def spawn_wall(pid):
    """Wall-clock time the process was started (fork), from its boot-clock start time."""
    started_boot = int(stat_fields(pid)[19]) / CLK_TCK
    return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - started_boot)


def cpu_ticks(pids):
    out = {}
    for pid in pids:
        try:
            f = stat_fields(pid)
            out[pid] = int(f[11]) + int(f[12])  # utime + stime
        except OSError:
            pass
    return out


def smaps(pid):
    """Selected smaps_rollup fields in KiB (PSS splits shared pages fairly between processes)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k in ("Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem"):
                    out[k] = int(rest.split()[0])
    except OSError:
        pass
    return out


def tree_pss(pids):
    return sum(smaps(p).get("Pss", 0) for p in pids)


# Counts what the page changes while it should be at rest: evidence for where idle CPU goes.
COUNT_MUTATIONS = """
window.__benchMut = {records: 0, added: 0, text: 0};
const m = window.__benchMut;
new MutationObserver((rs) => {
  for (const r of rs) { m.records++; m.added += r.addedNodes.length; if (r.type === 'characterData') m.text++; }
}).observe(document, {childList: true, subtree: true, characterData: true, attributes: true});
"""


def idle_cpu(h, secs, s=None):
    """% of one core used by the app's process tree over `secs`, total and per process name
    (and, given the session, the DOM mutations the page made meanwhile)."""
    if s is not None:
        try:
            s.js(COUNT_MUTATIONS)
        except Exception:  # noqa: BLE001 -- evidence only
            s = None
    pids = h.app_pids()
    a, t0 = cpu_ticks(pids), time.monotonic()
    time.sleep(secs)
    b, t1 = cpu_ticks(h.app_pids()), time.monotonic()
    muts = None
    if s is not None:
        try:
            muts = s.js("return window.__benchMut")
        except Exception:  # noqa: BLE001 -- evidence only; a hidden window may not answer
            pass
    per = {}
    for pid, v in b.items():
        name = comm(pid)
        per[name] = per.get(name, 0) + v - a.get(pid, v)
    wall = t1 - t0
    total = sum(per.values()) / CLK_TCK / wall * 100
    return total, {k: v / CLK_TCK / wall * 100 for k, v in per.items()}, muts


def launch(h, exe, sel):
    """Starts `exe` through tauri-driver and returns (session, seconds from spawn to `sel`
    on screen, how it was measured, {phase: seconds from spawn})."""
    h.end_session()
    h.app = exe  # Harness.app_pids/end_session find the app by this binary
    s = Session(f"http://127.0.0.1:{h.driver_port}", exe)
    h.session_ = s
    s.cmd("POST", f"/session/{s.sid}/timeouts", {"script": 120000})
    r = s.cmd("POST", f"/session/{s.sid}/execute/async", {"script": WAIT_FOR_CONTENT, "args": [sel]})
    pids = h.app_pids()
    assert pids, f"{exe} is not running"
    t0 = spawn_wall(pids[0])
    phases = {k: r[k] / 1000 - t0 for k in ("origin", "fcp", "load") if r.get(k)}
    return s, r["t"] / 1000 - t0, r["how"], phases


def seed(h):
    t = time.time()
    for i in range(N):
        h.server.create(f"appr-bench-{i:05d}", agent=f"bench-bot-{i % 37}", action=f"bench:action-{i % 11}",
                        summary=f"Benchmark approval number {i} for the cold start figure")
    print(f"seeded {N} approvals on the server in {time.time() - t:.1f}s", flush=True)


# --- closing the window to the tray, as a window manager would (WM_DELETE_WINDOW) ---------------

class XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("l", ctypes.c_long * 5)]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def toplevel_windows(title):
    out = subprocess.run(["xwininfo", "-root", "-children"], capture_output=True, text=True, check=True).stdout
    return [int(line.split()[0], 16) for line in out.splitlines()
            if line.strip().startswith("0x") and f' "{title}": ' in line]


def close_to_tray(title):
    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    wins = toplevel_windows(title)
    assert wins, f"no top-level window titled {title!r}"
    dpy = x11.XOpenDisplay(None)
    assert dpy, "cannot open the X display"
    try:
        for w in wins:
            ev = XEvent()
            ev.xclient.type = 33  # ClientMessage
            ev.xclient.window = w
            ev.xclient.message_type = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
            ev.xclient.format = 32
            ev.xclient.l[0] = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
            ev.xclient.l[1] = 0  # CurrentTime
            x11.XSendEvent(dpy, w, 0, 0, ctypes.byref(ev))
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


def window_viewable(title):
    for w in toplevel_windows(title):
        out = subprocess.run(["xwininfo", "-id", hex(w)], capture_output=True, text=True).stdout
        if "IsViewable" in out:
            return True
    return False


# --- report ---------------------------------------------------------------------------------------

def ms(v):
    return f"{v * 1000:.0f}"


def spread(xs, fmt):
    return f"{fmt(statistics.median(xs))} ({fmt(min(xs))}–{fmt(max(xs))})"


def print_tree(label, pids):
    print(f"  {label}:")
    tot = {}
    for pid in pids:
        m = smaps(pid)
        for k, v in m.items():
            tot[k] = tot.get(k, 0) + v
        print(f"    {comm(pid):<18} pid {pid:<7} RSS {m.get('Rss', 0) / MiB:7.1f}  PSS {m.get('Pss', 0) / MiB:7.1f}"
              f"  (anon {m.get('Pss_Anon', 0) / MiB:6.1f}, file {m.get('Pss_File', 0) / MiB:6.1f},"
              f" shmem {m.get('Pss_Shmem', 0) / MiB:5.1f}) MiB")
    print(f"    {'total':<28} RSS {tot.get('Rss', 0) / MiB:7.1f}  PSS {tot.get('Pss', 0) / MiB:7.1f}"
          f"  (anon {tot.get('Pss_Anon', 0) / MiB:6.1f}, file {tot.get('Pss_File', 0) / MiB:6.1f},"
          f" shmem {tot.get('Pss_Shmem', 0) / MiB:5.1f}) MiB")


def first_launch(h):
    """Sign in and let the app cache everything (not measured)."""
    # Signed in by the harness (the CLI's login, through the harness's proxy).
    s = h.session()
    s.wait(lambda: s.js("return Number(document.getElementById('pending-badge').textContent)") >= N, 600,
           "all approvals cached")
    h.end_session()


def views_cpu(h, app):
    """Idle CPU of Countersign on each view, in one session. Returns [(view, %, per process)]."""
    s, _, _, _ = launch(h, app, QUEUE_SEL)
    s.wait(lambda: s.js("return document.body.dataset.ready === 'true'"), 60, "UI ready")
    out = []

    def measure(name, ready):
        s.wait(ready, 60, f"view {name}")
        time.sleep(SETTLE_SECS)
        total, per, muts = idle_cpu(h, IDLE_SECS, s)
        out.append((name, total, per, muts))
        print(f"  idle CPU, {name}: {total:.2f} % of a core", flush=True)

    def on_view(v, css=None):
        q = f'#view[data-view="{v}"]' + (f" {css}" if css else "")
        return lambda: s.js("return !!document.querySelector(arguments[0])", q)

    measure("queue (pending)", on_view("approvals-pending", ".row"))
    s.click("#tab-all")
    measure("All tab", on_view("approvals-all", ".row"))
    s.click("#tab-pending")
    s.wait(on_view("approvals-pending", ".row"), 60, "queue")
    s.click("#queue .row .review")
    measure("detail", on_view("detail", "#detail-id"))
    s.click("#nav-approvals")
    s.wait(on_view("approvals-pending", ".row"), 60, "queue")
    s.click("#tab-stats")
    measure("stats", on_view("approvals-stats", "#stat-avg"))
    s.click("#nav-outbox")
    measure("outbox", on_view("outbox"))
    s.click("#nav-settings")
    measure("settings", on_view("settings"))
    # Back to the queue (the Stats tab is still selected there), then closed to the tray.
    s.click("#nav-approvals")
    s.click("#tab-pending")
    s.wait(on_view("approvals-pending", ".row"), 60, "queue")
    close_to_tray("Countersign")
    measure("hidden (tray), from the queue", lambda: not window_viewable("Countersign") and h.app_pids())
    h.end_session()
    return out


def main():
    app = os.environ["CS_APP"]
    with Harness() as h:
        seed(h)
        first_launch(h)
        # One unmeasured launch of each, so both start with warm file caches.
        for exe, sel in ((HELLO, HELLO_SEL), (app, QUEUE_SEL)):
            launch(h, exe, sel)
            h.end_session()

        res = {n: {"start": [], "how": [], "pss": [], "cpu": [], "origin": [], "fcp": []}
               for n in ("hello", "countersign")}
        for run in range(RUNS):
            for name, exe, sel in (("hello", HELLO, HELLO_SEL), ("countersign", app, QUEUE_SEL)):
                s, secs, how, phases = launch(h, exe, sel)
                r = res[name]
                r["start"].append(secs)
                r["how"].append(how)
                for k in ("origin", "fcp"):
                    if k in phases:
                        r[k].append(phases[k])
                extra = ""
                if name == "countersign":
                    rows, total = s.js("return [document.querySelectorAll('#queue .row').length,"
                                       " Number(document.getElementById('pending-badge').textContent)]")
                    extra = f" ({rows} rows shown of {total} pending)"
                time.sleep(SETTLE_SECS)
                cpu, _, _ = idle_cpu(h, IDLE_SECS)
                pids = h.app_pids()
                r["cpu"].append(cpu)
                r["pss"].append(tree_pss(pids))
                steps = " ".join(f"{k} {ms(v)}" for k, v in sorted(phases.items(), key=lambda kv: kv[1]))
                print(f"run {run + 1} {name:<11}: spawn to first content {ms(secs)} ms [{how}; {steps}]{extra}, "
                      f"idle PSS {r['pss'][-1] / MiB:.1f} MiB, idle CPU {cpu:.2f} %", flush=True)
                if run == RUNS - 1:
                    print_tree(f"{name} process tree after {SETTLE_SECS + IDLE_SECS:.0f} s idle", pids)
                h.end_session()

        print("idle CPU of Countersign by view:", flush=True)
        views = views_cpu(h, app)

    hs, cs = res["hello"], res["countersign"]
    marks = {n: ",".join(sorted(set(res[n]["how"]))) for n in res}
    ratio = statistics.median(cs["start"]) / statistics.median(hs["start"])
    dpss = (statistics.median(cs["pss"]) - statistics.median(hs["pss"])) / MiB
    print()
    print(f"Countersign ({N} cached approvals) against hello-world Tauri, {RUNS} alternating runs each, "
          f"median (min–max):")
    print(f"  {'':<34} {'hello-world':>22} {'Countersign':>22}  {'comparison':<28}")
    print(f"  {'spawn to first content, ms':<34} {spread(hs['start'], ms):>22} {spread(cs['start'], ms):>22}"
          f"  {ratio:.2f}x (goal <= 1.3x)")
    print(f"  {'  measured by':<34} {marks['hello']:>22} {marks['countersign']:>22}")
    for k, label in (("origin", "  of which spawn to navigation"), ("fcp", "  spawn to first contentful paint")):
        if hs[k] and cs[k]:
            print(f"  {label + ', ms':<34} {spread(hs[k], ms):>22} {spread(cs[k], ms):>22}")
    f1 = lambda v: f"{v / MiB:.0f}"  # noqa: E731
    print(f"  {'idle PSS of the process tree, MiB':<34} {spread(hs['pss'], f1):>22} {spread(cs['pss'], f1):>22}"
          f"  {dpss:+.0f} MiB (goal <= +100)")
    f2 = lambda v: f"{v:.2f}"  # noqa: E731
    print(f"  {'idle CPU on start view, % core':<34} {spread(hs['cpu'], f2):>22} {spread(cs['cpu'], f2):>22}")
    print(f"  idle CPU of Countersign's process tree by view, % of one core over {IDLE_SECS:.0f} s "
          f"(goal <= 1 % each; hello-world {statistics.median(hs['cpu']):.2f} %):")
    for name, total, per, muts in views:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda kv: -kv[1]) if v > 0)
        flag = "" if total <= 1 else "  over goal"
        dom = (f"; DOM meanwhile: {muts['records']} mutation records, {muts['added']} nodes added,"
               f" {muts['text']} text changes" if muts else "")
        print(f"    {name:<32} {total:6.2f} %{flag}" + (f"   ({parts}{dom})" if parts or dom else ""))


if __name__ == "__main__":
    main()
