"""Schemathesis hooks for `make fuzz` (loaded through SCHEMATHESIS_HOOKS).

Two custom checks.

no_other_org_data: no response to a request made with org A's token contains org B's
data. The driver (run.py) gives a second org an approval whose summary, params and
deny reason carry a marker string, and passes the marker in FUZZ_FOREIGN_MARKERS; the
marker is never something a request to org A could make the server echo (it is not an
id or a path segment), so finding it in a response means org B's data leaked.

strict_request_bodies: see its docstring.
"""

import copy
import json
import os

import requests
import schemathesis

MARKERS = [m for m in os.environ.get("FUZZ_FOREIGN_MARKERS", "").split(",") if m]


@schemathesis.check
def no_other_org_data(ctx, response, case):
    """No response with this org's token carries another org's marker."""
    body = response.content or b""
    for marker in MARKERS:
        if marker.encode() in body:
            raise AssertionError(
                f"the response to {case.method} {case.formatted_path} contains another "
                f"org's data (marker {marker!r}, status {response.status_code})"
            )


# Keys whose values are free-form JSON by design: the agent's `params`, the execution
# `output`, and `risk`, whose unknown keys are kept as extras (RiskSnapshot.extra).
FREE_FORM = {"params", "output", "risk"}
UNKNOWN_KEY = "zz_fuzz_unknown"


def _objects(body, path=()):
    """The paths of the objects in a request body that the server reads field by field."""
    if isinstance(body, dict):
        yield path
        for k, v in body.items():
            if k not in FREE_FORM:
                yield from _objects(v, path + (k,))
    elif isinstance(body, list):
        for i, v in enumerate(body):
            yield from _objects(v, path + (i,))


def _with_unknown_key(body, path):
    body = copy.deepcopy(body)
    target = body
    for step in path:
        target = target[step]
    target[UNKNOWN_KEY] = 1
    return body


def _as_array(body, path):
    """The body with the object at `path` replaced by its values in field order."""
    body = copy.deepcopy(body)
    if not path:
        return list(body.values())
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = list(target[path[-1]].values())
    return body


@schemathesis.check
def strict_request_bodies(ctx, response, case):
    """A request body the server got past auth and parsed is re-sent with an unknown key
    in each of its objects, and with each object as an array in field order: every
    variant must be a 400 (validation_failed), not applied, not a 409 from a handler that
    ran anyway. (The document's additionalProperties: false says the same, but the
    fuzzer's negative cases rarely pair one wrong key with an otherwise valid body.)"""
    if case.method.upper() != "POST" or not isinstance(case.body, dict) or not case.body:
        return
    # 400: refused for something else (the variant would prove nothing); 401/403/404:
    # refused before the body was read.
    if response.status_code not in (200, 201, 409, 422):
        return
    sent = response.request
    headers = {
        k: v for k, v in sent.headers.items() if k.lower() not in ("content-length", "idempotency-key")
    }
    paths = [(p, ".".join(map(str, p)) or "(body)") for p in _objects(case.body)]
    variants = [(f"unknown key in {w}", _with_unknown_key(case.body, p)) for p, w in paths]
    variants += [(f"{w} as an array", _as_array(case.body, p)) for p, w in paths]
    for what, body in variants:
        r = requests.post(sent.url, data=json.dumps(body), headers=headers, timeout=30)
        code = None
        try:
            code = r.json().get("error", {}).get("code")
        except ValueError:
            pass
        if r.status_code != 400 or code != "validation_failed":
            raise AssertionError(
                f"{case.method} {case.formatted_path} with {what} answered {r.status_code} "
                f"{code or r.text[:200]!r}, expected 400 validation_failed; body: "
                f"{json.dumps(body)[:300]}"
            )
