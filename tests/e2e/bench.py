"""Benchmark: cold start of the real app to an interactive queue with 10,000 cached
approvals, and the idle memory of the app and its WebKit processes.

Run through `tests/e2e/run.sh --bench` (Xvfb + private D-Bus session). Prints figures;
asserts nothing about them (benchmarks report, tests decide).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import APPROVER, ORG, Harness  # noqa: E402

N = int(os.environ.get("CS_BENCH_APPROVALS", "10000"))
RUNS = int(os.environ.get("CS_BENCH_RUNS", "5"))


def comm(pid):
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def mem_kib(pid):
    """(RSS, PSS) in KiB; PSS splits shared pages fairly between processes."""
    rss = pss = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def seed(h):
    t = time.time()
    for i in range(N):
        h.server.create(f"appr-bench-{i:05d}", agent=f"bench-bot-{i % 37}", action=f"bench:action-{i % 11}",
                        summary=f"Benchmark approval number {i} for the cold start figure")
    print(f"seeded {N} approvals on the server in {time.time() - t:.1f}s", flush=True)


def main():
    with Harness() as h:
        seed(h)
        # First launch: sign in and let the app cache everything.
        s = h.session()
        s.wait_css("#welcome")
        s.find("#set-url").send_keys(h.server.url)
        s.find("#set-org").send_keys(ORG)
        s.find("#set-token").send_keys(APPROVER)
        s.find("#set-save").click()
        s.wait(lambda: s.js("return Number(document.getElementById('pending-badge').textContent)") >= N, 300,
               "all approvals cached")
        h.end_session()

        starts = []
        for run in range(RUNS):
            t0 = time.perf_counter()
            s = h.session()  # launches the app process
            s.wait(lambda: s.js("return document.body.dataset.ready === 'true' && "
                                "document.querySelectorAll('#queue .row').length > 0"), 60, "interactive queue")
            starts.append(time.perf_counter() - t0)
            rows, total = s.js("return [document.querySelectorAll('#queue .row').length,"
                               " Number(document.getElementById('pending-badge').textContent)]")
            if run == RUNS - 1:
                time.sleep(15)  # idle: sync done, nothing on screen changing
                pids = h.app_pids()
                total_rss = total_pss = 0
                print("idle memory after 15 s:")
                for pid in pids:
                    rss, pss = mem_kib(pid)
                    total_rss += rss
                    total_pss += pss
                    print(f"  {comm(pid):<18} pid {pid:<7} RSS {rss / 1024:7.1f} MiB  PSS {pss / 1024:7.1f} MiB")
                print(f"  {'total':<28} RSS {total_rss / 1024:7.1f} MiB  PSS {total_pss / 1024:7.1f} MiB")
            h.end_session()
            print(f"run {run + 1}: cold start to interactive queue {starts[-1] * 1000:.0f} ms "
                  f"({rows} rows shown of {total} pending)", flush=True)
        print(f"cold start with {N} cached approvals: median {statistics.median(starts) * 1000:.0f} ms, "
              f"min {min(starts) * 1000:.0f} ms, max {max(starts) * 1000:.0f} ms over {RUNS} runs")


if __name__ == "__main__":
    main()
