#!/usr/bin/env python3
"""`make fuzz`: schemathesis against a real countersign-server.

Starts the server on 127.0.0.1 with an ephemeral port and a temporary database, demo
data loaded, gives a second org (org-other) tokens and an approval carrying a marker
string, then runs schemathesis over the server's own OpenAPI document once per demo
token (approver, agent) with these checks:

  not_a_server_error          no 5xx, whatever is sent
  status_code_conformance     every status is documented for its operation
  content_type_conformance    every response has the documented content type
  response_headers_conformance
  response_schema_conformance every body matches the document
  negative_data_rejection     a request the document calls invalid is refused (4xx)
  no_other_org_data           (hooks.py) one org's token never sees the other's data
  strict_request_bodies       (hooks.py) an unknown key or an array anywhere is a 400

Three runs: org-demo's approver and agent tokens (org-other's marker must not show),
then org-other's approver token (a demo summary must not show).

Usage: run.py SERVER_BINARY SCHEMATHESIS [--examples N] [--seed N] [schemathesis options]
Exits non-zero when any check failed; the failing cases are printed by schemathesis.
"""

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
OTHER_ORG = "org-other"
# Only in org-other's approval (summary, params, deny reason): never an id or a path
# segment a request to org-demo could make the server echo back.
MARKER = "XORG-SECRET-5b1e"
OTHER_ID = "appr-xorg-5b1e"
DEMO_TOKENS = {"approver": "demo-approver-token", "agent": "demo-agent-token"}
# A summary only org-demo's seeded data has (appr-xyz789), for the run as org-other.
DEMO_MARKER = "Deploy app:v2.0.0 to production namespace"
# Ids the fuzzer may put in `{id}`: the demo's own, one that does not exist, and the
# other org's (each a 404 for the other org's tokens).
DEMO_IDS = ["appr-xyz789", "appr-abc123", "appr-def456", "appr-missing-1", OTHER_ID]
# The SSE stream never ends, so a fuzzer request to it would only time out; it is
# covered by the server's own tests (tests/events.rs).
EXCLUDE_PATH_REGEX = r"/events$"


def add_token(server: str, db: Path, org: str, role: str, subject: str, agents: tuple[str, ...] = ()) -> str:
    # Agent tokens are bound to the agent ids they may speak for (--agent).
    bind = [arg for a in agents for arg in ("--agent", a)]
    out = subprocess.run(
        [server, "add-token", "--db", str(db), "--org", org, "--role", role, "--subject", subject, *bind],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def start_server(server: str, db: Path, log: Path, demo: bool = False) -> tuple[subprocess.Popen, str]:
    # Rate limits off: the fuzzer sends thousands of requests a minute with one token,
    # and a 429 in the middle of a run would hide what it is looking for.
    proc = subprocess.Popen(
        [server, "--db", str(db), "--addr", "127.0.0.1:0", "--rate-limit", "0", "--create-rate-limit", "0"]
        + (["--demo"] if demo else []),
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        proc.kill()
        sys.exit(f"the server printed nothing in 60 s; log: {log}")
    # "countersign-server demo on http://127.0.0.1:PORT"
    url = first.split()[-1]
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        sys.exit(f"unexpected first line from the server: {first!r}")
    return proc, url


def call(url: str, token: str, method: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def seed_other_org(base: str, agent: str, approver: str) -> None:
    """An approval of org-other with the marker in its text, params and decision."""
    approvals = f"{base}/api/v1/orgs/{OTHER_ORG}/approvals"
    call(
        approvals,
        agent,
        "POST",
        {
            "id": OTHER_ID,
            "agent": {"id": "other-bot", "name": f"Other bot {MARKER}"},
            "action": "payments:transfer",
            "summary": f"Transfer for {MARKER}",
            "reason_code": "amount_threshold",
            "reason_text": f"Over the limit ({MARKER})",
            "params": {"customer": MARKER, "amount": 12000},
        },
    )
    call(f"{approvals}/{OTHER_ID}/deny", approver, "POST", {"reason": f"No ({MARKER})"})
    # A second one, left pending, so lists and the change feed of org-other have both.
    call(
        approvals,
        agent,
        "POST",
        {
            "agent": {"id": "other-bot"},
            "action": "payments:transfer",
            "summary": f"Pending for {MARKER}",
            "reason_code": "amount_threshold",
            "reason_text": "Over the limit",
            "params": {"note": MARKER},
        },
    )


def write_config(path: Path) -> None:
    """Most requests aim at org-demo and real ids; the rest are whatever the fuzzer makes."""
    ids = ", ".join(json.dumps(i) for i in DEMO_IDS)
    path.write_text(
        f"""
[dictionaries.orgs]
values = ["org-demo", "{OTHER_ORG}"]

[dictionaries.ids]
values = [{ids}]

# A long poll holds the request for up to 60 s on a pending approval: keep it short.
[dictionaries.waits]
values = [0, 1]

[parameters]
"path.org" = {{ dictionary = "orgs", probability = 0.9 }}
"path.id" = {{ dictionary = "ids", probability = 0.7 }}
"query.wait" = {{ dictionary = "waits", probability = 1.0 }}
"""
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("server")
    ap.add_argument("schemathesis")
    ap.add_argument("--examples", type=int, default=30)
    ap.add_argument("--seed", type=int, default=None)
    # One worker: hypothesis' lambda descriptions (ast.parse) are not thread-safe on
    # CPython 3.11 ("AST constructor recursion depth mismatch" in the coverage phase).
    ap.add_argument("--workers", default="1")
    ap.add_argument("--also-check", action="append", default=[], help="more checks")
    # To fuzz an older server against this document (how the findings were confirmed).
    ap.add_argument("--schema", help="an OpenAPI file instead of the server's own document")
    # Anything else goes to `schemathesis run` as it stands (e.g. --include-path-regex).
    args, extra = ap.parse_known_args()
    args.server = str(Path(args.server).resolve())
    args.schemathesis = str(Path(args.schemathesis).absolute())

    with tempfile.TemporaryDirectory(prefix="countersign-fuzz-") as tmp:
        tmp = Path(tmp)
        db = tmp / "server.db"
        # --demo seeds only a database that holds nothing else: seed it first, then add
        # the other org's tokens and serve without --demo.
        seeder, _ = start_server(args.server, db, tmp / "seed.log", demo=True)
        seeder.terminate()
        seeder.wait(timeout=30)
        other_agent = add_token(args.server, db, OTHER_ORG, "agent", "other-engine", ("other-bot",))
        other_approver = add_token(args.server, db, OTHER_ORG, "approver", "carol")
        proc, base = start_server(args.server, db, tmp / "server.log")
        failed = False
        try:
            seed_other_org(base, other_agent, other_approver)
            config = tmp / "schemathesis.toml"
            write_config(config)
            env = dict(os.environ)
            env["SCHEMATHESIS_HOOKS"] = "hooks"
            env["PYTHONPATH"] = f"{HERE}{os.pathsep}{env.get('PYTHONPATH', '')}"
            checks = ",".join(
                [
                    "not_a_server_error",
                    "status_code_conformance",
                    "content_type_conformance",
                    "response_headers_conformance",
                    "response_schema_conformance",
                    "negative_data_rejection",
                    "no_other_org_data",
                    "strict_request_bodies",
                ]
                + args.also_check
            )
            runs = [
                ("org-demo", role, token, MARKER) for role, token in DEMO_TOKENS.items()
            ] + [(OTHER_ORG, "approver", other_approver, DEMO_MARKER)]
            for org, role, token, foreign in runs:
                env["FUZZ_FOREIGN_MARKERS"] = foreign
                print(f"\n=== schemathesis with {org}'s {role} token ===", flush=True)
                role = f"{org}-{role}"
                cmd = [
                    args.schemathesis,
                    "--config-file",
                    str(config),
                    "run",
                    str(Path(args.schema).resolve()) if args.schema else f"{base}/api/v1/openapi.json",
                    "--url",
                    base,
                    "--header",
                    f"Authorization: Bearer {token}",
                    "--checks",
                    checks,
                    "--max-examples",
                    str(args.examples),
                    "--workers",
                    args.workers,
                    "--exclude-path-regex",
                    EXCLUDE_PATH_REGEX,
                    "--request-timeout",
                    "30",
                    "--generation-database",
                    "none",
                    "--report",
                    "junit",
                    "--report-dir",
                    str(tmp / f"report-{role}"),
                ]
                cmd += extra
                if args.seed is not None:
                    cmd += ["--seed", str(args.seed)]
                started = time.monotonic()
                rc = subprocess.run(cmd, env=env, cwd=tmp).returncode
                print(f"=== {role}: exit {rc} in {time.monotonic() - started:.0f} s ===", flush=True)
                failed |= rc != 0
            if proc.poll() is not None:
                print("the server exited during the run", file=sys.stderr)
                failed = True
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            if failed:
                log = (tmp / "server.log").read_text(errors="replace")
                tail = "\n".join(log.splitlines()[-40:])
                print(f"\n--- last lines of the server log ---\n{tail}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
