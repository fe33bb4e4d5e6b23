"""End-to-end tests of the Countersign desktop app (run through tests/e2e/run.sh)."""

import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Harness  # noqa: E402

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def window_opens_and_renders(h):
    s = h.session()
    el = s.wait_css(".brand")
    assert "Countersign" in el.text, el.text
    assert s.title() == "Countersign"


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
                print(f"FAIL {fn.__name__}", flush=True)
            finally:
                h.end_session()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
