"""A small W3C WebDriver client over the standard library, for tauri-driver."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    pass


class Element:
    def __init__(self, session, eid):
        self.s = session
        self.id = eid

    def _p(self, suffix=""):
        return f"/session/{self.s.sid}/element/{self.id}{suffix}"

    def click(self):
        self.s.cmd("POST", self._p("/click"), {})
        return self

    def send_keys(self, text):
        self.s.cmd("POST", self._p("/value"), {"text": text})
        return self

    def clear(self):
        self.s.cmd("POST", self._p("/clear"), {})
        return self

    @property
    def text(self):
        return self.s.cmd("GET", self._p("/text"))

    def prop(self, name):
        return self.s.cmd("GET", self._p(f"/property/{name}"))

    def attr(self, name):
        return self.s.cmd("GET", self._p(f"/attribute/{name}"))

    def enabled(self):
        return self.s.cmd("GET", self._p("/enabled"))

    def find(self, css):
        v = self.s.cmd("POST", self._p("/element"), {"using": "css selector", "value": css})
        return Element(self.s, v[ELEMENT])

    def find_all(self, css):
        v = self.s.cmd("POST", self._p("/elements"), {"using": "css selector", "value": css})
        return [Element(self.s, e[ELEMENT]) for e in v]


class Session:
    def __init__(self, base, application, args=None, timeout=60):
        self.base = base.rstrip("/")
        caps = {"capabilities": {"alwaysMatch": {"tauri:options": {"application": application, "args": args or []}}}}
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                v = self.cmd("POST", "/session", caps, session=False)
                self.sid = v["sessionId"]
                return
            except (urllib.error.URLError, ConnectionError, WebDriverError) as e:
                last = e
                time.sleep(0.5)
        raise WebDriverError(f"could not start a session: {last}")

    def cmd(self, method, path, body=None, session=True):
        # tauri-driver keeps pooled connections to WebKitWebDriver, which closes idle ones;
        # a request that lands on a dead one comes back as a dropped connection before
        # WebKitWebDriver saw it, so sending it again is safe.
        for attempt in range(4):
            try:
                return self._cmd(method, path, body)
            except (http.client.RemoteDisconnected, ConnectionResetError) as e:
                if attempt == 3:
                    raise WebDriverError(f"{method} {path}: connection dropped: {e}") from None
                time.sleep(0.2)

    def _cmd(self, method, path, body):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                payload = json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                v = json.loads(raw).get("value", {})
                raise WebDriverError(f"{method} {path}: {v.get('error')}: {v.get('message')}") from None
            except ValueError:
                raise WebDriverError(f"{method} {path}: HTTP {e.code} {raw[:200]!r}") from None
        return payload.get("value")

    def quit(self):
        try:
            self.cmd("DELETE", f"/session/{self.sid}")
        except Exception:  # the app may already be gone
            pass

    def js(self, script, *args):
        return self.cmd("POST", f"/session/{self.sid}/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        v = self.cmd("POST", f"/session/{self.sid}/element", {"using": "css selector", "value": css})
        return Element(self, v[ELEMENT])

    def find_all(self, css):
        v = self.cmd("POST", f"/session/{self.sid}/elements", {"using": "css selector", "value": css})
        return [Element(self, e[ELEMENT]) for e in v]

    def wait(self, predicate, timeout=20, what="condition", interval=0.2):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                v = predicate()
                if v:
                    return v
            except WebDriverError as e:
                last = e
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))

    def wait_css(self, css, timeout=20):
        return self.wait(lambda: self.find(css), timeout, f"element {css}")

    def click(self, css, timeout=20):
        """Finds and clicks, again if the UI re-rendered the element in between."""
        def attempt():
            try:
                self.find(css).click()
                return True
            except WebDriverError as e:
                if any(k in str(e) for k in ("stale element", "no such element", "click intercepted")):
                    return False
                raise
        return self.wait(attempt, timeout, f"clicking {css}")

    def keys(self, text):
        """Types into whatever has focus (document-level shortcuts)."""
        actions = [{"type": "keyDown", "value": ch} for ch in text]
        ups = []
        for ch in text:
            ups += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        self.cmd("POST", f"/session/{self.sid}/actions",
                 {"actions": [{"type": "key", "id": "kb", "actions": ups}]})
        del actions

    def screenshot(self, path):
        png = base64.b64decode(self.cmd("GET", f"/session/{self.sid}/screenshot"))
        with open(path, "wb") as f:
            f.write(png)

    def title(self):
        return self.cmd("GET", f"/session/{self.sid}/title")
