"""Processes the e2e tests need: a real countersign-server on loopback, the fake desktop
on the session bus, tauri-driver (which launches the real app for each session)."""

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import re
import urllib.error
import urllib.request

from wd import Session

HERE = os.path.dirname(os.path.abspath(__file__))
ORG = "org-demo"
APPROVER = "demo-approver-token"  # alice: the app signs in with it
APPROVER2 = "demo-approver2-token"  # bob: the test checks the server with it
AGENT = "demo-agent-token"
SNOOZE_SECS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


class Server:
    """The reference server binary, restartable on the same port and database."""

    def __init__(self, tmp):
        self.bin = os.environ["CS_SERVER"]
        self.port = free_port()
        self.db = os.path.join(tmp, "server.db")
        self.log = open(os.path.join(tmp, "server.log"), "a")
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        # --demo seeds the first start only: a restart serves the same database as an
        # operator would, and --demo refuses a database that tests have since added their
        # own tokens to (issue 16 §8).
        seed = [] if os.path.exists(self.db) else ["--demo"]
        # The suite seeds thousands of requests through one agent token in seconds: set-up,
        # not an agent in a loop, so the per-token creation limit is off here (the limits
        # have their own tests in src-tauri/server/tests/limits.rs).
        self.proc = subprocess.Popen(
            [self.bin, "--addr", f"127.0.0.1:{self.port}", "--db", self.db, "--create-rate-limit", "0", *seed],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port)
        if seed:
            self.bind_agent_token()

    def bind_agent_token(self):
        """The demo agent token is bound to the demo's agent ids (issue 16 §4); the suite
        raises requests for agents of its own (e2e-bot, per-test ids), so it binds the
        token to any agent id, as an operator would with `add-token --agent '*'`."""
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            with conn:
                conn.execute("UPDATE tokens SET agents = '[\"*\"]' WHERE hash = ?",
                             (hashlib.sha256(AGENT.encode()).hexdigest(),))
        finally:
            conn.close()

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def http(self, method, path, token=APPROVER2, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}/api/v1/orgs/{ORG}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def approval(self, aid):
        status, body = self.http("GET", f"/approvals/{aid}")
        assert status == 200, (status, body)
        return body

    def pending_count(self):
        n, cursor = 0, None
        while True:
            q = "/approvals?status=pending&limit=1000" + (f"&cursor={cursor}" if cursor else "")
            status, body = self.http("GET", q)
            assert status == 200, (status, body)
            n += len(body["items"])
            cursor = body.get("next_cursor")
            if not cursor:
                return n

    def create(self, aid, agent="e2e-bot", action="e2e:notify", summary="Raised by the e2e suite",
               expires_in_secs=None, required_approvals=None):
        status, body = self.http("POST", "/approvals", token=AGENT, body={
            "expires_in_secs": expires_in_secs,
            "required_approvals": required_approvals,
            "id": aid,
            "agent": {"id": agent, "name": "E2E Bot", "version": "v1.0.0"},
            "action": action,
            "summary": summary,
            "reason_code": "requires_approval",
            "reason_text": f"Action '{action}' requires human approval",
            "params": {"n": 1},
            "policy_trace": [{"step": "tool_authorization", "result": "escalate"}],
            "risk": {"budget_used": 1, "budget_limit": 10, "budget_unit": "actions"},
        })
        assert status in (200, 201), (status, body)
        return body


class Proxy:
    """A loopback TCP proxy in front of the server, so a test can make the link stall
    (accept, never answer), refuse (close at once) or count the HTTP requests that go
    through it. The app always talks to the server through it."""

    REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]\r\n")

    def __init__(self, target_port):
        self.target_port = target_port
        self.port = free_port()
        self.mode = "pass"  # pass | stall | refuse
        self.lock = threading.Lock()
        self.requests = []  # (method, path)
        self.open = set()  # client-side sockets being forwarded
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port))
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode):
        """`refuse` also cuts the connections already open (a pooled keep-alive or the event
        stream would otherwise carry on); `stall` stops forwarding on them; back to `pass`,
        the stalled ones (whose bytes were dropped) are cut so the client reconnects."""
        with self.lock:
            self.mode = mode
            open_now = list(self.open) if mode != "stall" else []
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def reset_count(self):
        with self.lock:
            self.requests = []

    def count(self, pred=lambda method, path: True):
        with self.lock:
            return sum(1 for m, p in self.requests if pred(m, p))

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                mode = self.mode
            if mode == "refuse":
                client.close()
            elif mode == "stall":
                # Hold the connection open and never answer (a link that stalls).
                threading.Thread(target=self._swallow, args=(client,), daemon=True).start()
            else:
                threading.Thread(target=self._pipe_pair, args=(client,), daemon=True).start()

    def _swallow(self, client):
        try:
            while client.recv(65536):
                pass
        except OSError:
            pass
        finally:
            client.close()

    def _pipe_pair(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        with self.lock:
            self.open.add(client)
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)
        with self.lock:
            self.open.discard(client)

    def _pipe(self, src, dst, count):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.lock:
                    stalled = self.mode == "stall"
                if stalled:
                    continue  # the link stalls: bytes go nowhere, nothing comes back
                if count:
                    found = [(m.decode(), p.decode()) for m, p in self.REQUEST_LINE.findall(data)]
                    if found:
                        with self.lock:
                            self.requests.extend(found)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


class Desktop:
    """The fake notification daemon + StatusNotifierWatcher (fake_desktop.py)."""

    def __init__(self, tmp):
        self.log_path = os.path.join(tmp, "desktop.jsonl")
        open(self.log_path, "w").close()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_desktop.py"), self.log_path])
        deadline = time.time() + 10
        while time.time() < deadline and not self.records("ready"):
            time.sleep(0.1)
        assert self.records("ready"), "fake desktop did not start"

    def records(self, kind):
        out = []
        with open(self.log_path) as f:
            for line in f:
                r = json.loads(line)
                if r["type"] == kind:
                    out.append(r)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)

    def click(self, nid, action="default", timeout=20):
        """Clicks notification `nid` once the app listens for its signals: the app subscribes
        after the Notify reply, and a click before that is lost (as it would be for a person)."""
        import dbus
        notes = [r for r in self.records("notify") if r["id"] == nid]
        assert notes, f"no notification {nid} to click"
        sender = notes[-1]["sender"]
        deadline = time.time() + timeout
        # The last rule notify-rust adds (or one for the whole interface).
        while not any(r["sender"] == sender and ("NotificationClosed" in r["rule"] or "member=" not in r["rule"])
                      for r in self.records("subscribed")):
            assert time.time() < deadline, f"the app never subscribed to notification {nid}'s signals"
            time.sleep(0.05)
        bus = dbus.SessionBus()
        obj = bus.get_object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
        obj.Click(dbus.UInt32(nid), action, dbus_interface="org.countersign.Test")

    def tray_labels(self):
        """Labels of the tray menu, read from the registered StatusNotifierItem over D-Bus."""
        import dbus
        items = self.records("sni")
        if not items:
            return None
        item = items[-1]
        bus = dbus.SessionBus()
        sni = bus.get_object(item["service"], item["path"])
        menu_path = sni.Get("org.kde.StatusNotifierItem", "Menu", dbus_interface=dbus.PROPERTIES_IFACE)
        menu = bus.get_object(item["service"], menu_path)
        _rev, layout = menu.GetLayout(0, -1, ["label"], dbus_interface="com.canonical.dbusmenu")
        labels = []

        def walk(node):
            _id, props, children = node
            if "label" in props:
                labels.append(str(props["label"]))
            for c in children:
                walk(c)
        walk(layout)
        return labels

    def tray_property(self, name):
        import dbus
        item = self.records("sni")[-1]
        sni = dbus.SessionBus().get_object(item["service"], item["path"])
        return sni.Get("org.kde.StatusNotifierItem", name, dbus_interface=dbus.PROPERTIES_IFACE)


# tauri-plugin-single-instance owns "<identifier>.SingleInstance" on the session bus.
SINGLE_INSTANCE_NAME = "app.countersign.desktop.SingleInstance"


def bus_name_owned(name):
    import dbus
    try:
        return bool(dbus.SessionBus().name_has_owner(name))
    except dbus.DBusException:
        return False


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def descendants(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children(p))
    return seen


class Harness:
    def __init__(self):
        self.app = os.environ["CS_APP"]
        self.tmp = tempfile.mkdtemp(prefix="countersign-e2e-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.driver = None
        self.session_ = None
        self.driver_port = free_port()
        self.server = Server(self.tmp)
        self.desktop = None

    def __enter__(self):
        self.server.start()
        self.proxy = Proxy(self.server.port)
        self.desktop = Desktop(self.tmp)
        # The token goes to a private file in COUNTERSIGN_HOME: no keychain on this bus.
        self.app_log = os.path.join(self.tmp, "app.log")
        self.driver_log = open(self.app_log, "w")
        self.theme = "light"
        self._start_driver()
        return self

    def _start_driver(self):
        # CS_SNOOZE_SECS: "Remind me in 1 h" on a notification snoozes for 4 s here, so a
        # test sees the reminder come back (read by src-tauri/src/app/notification_actions.rs).
        env = dict(os.environ, COUNTERSIGN_HOME=self.home, COUNTERSIGN_KEYRING="off",
                   COUNTERSIGN_LOG="info,countersign=debug", CS_SNOOZE_SECS=str(SNOOZE_SECS))
        env.pop("GTK_THEME", None)
        if self.theme == "dark":
            # What a desktop set to dark tells GTK apps; WebKitGTK maps a GTK_THEME ending
            # in ":dark" to `prefers-color-scheme: dark` (tests check that it took).
            env["GTK_THEME"] = "Adwaita:dark"
        self.driver = subprocess.Popen(
            ["tauri-driver", "--port", str(self.driver_port), "--native-port", str(free_port())],
            env=env, stdout=self.driver_log, stderr=subprocess.STDOUT)
        wait_port(self.driver_port)

    def set_theme(self, theme):
        """Light or dark for the sessions that follow: the app inherits its environment from
        tauri-driver, so the driver restarts with the desktop's dark preference set or not."""
        if theme == self.theme:
            return
        self.end_session()
        self.driver.terminate()
        self.driver.wait(10)
        self.driver_port = free_port()
        self.theme = theme
        self._start_driver()

    def __exit__(self, *exc):
        self.end_session()
        if self.driver:
            self.driver.terminate()
            self.driver.wait(10)
        self.server.stop()
        if self.desktop:
            self.desktop.stop()
        if os.environ.get("CS_E2E_KEEP"):
            print("e2e files kept in", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def cli(self, *args, stdin=None, check=True):
        """The real CLI on the suite's data directory (the app's, too)."""
        env = dict(os.environ, COUNTERSIGN_HOME=self.home, COUNTERSIGN_KEYRING="off")
        r = subprocess.run([self.app, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
        if check:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    def sign_in(self):
        """Signs the app in through the proxy (idempotent: the same server and org keep the
        cache), so every test stands alone whatever ran before it."""
        self.cli("login", "--server", self.proxy.url, "--org", ORG, "--token-stdin", stdin=APPROVER)

    def uid(self, tag):
        """A fresh approval id for one test's own data."""
        self.counter = getattr(self, "counter", 0) + 1
        return f"appr-e2e-{tag}-{os.getpid()}-{self.counter}"

    def session(self, args=None, signed_in=True):
        self.end_session()
        if signed_in and not (args and "--demo" in args):
            self.sign_in()
        self.session_ = Session(f"http://127.0.0.1:{self.driver_port}", self.app, args)
        self.session_.wait(lambda: self.session_.js("return document.body.dataset.ready === 'true'"), 30, "UI ready")
        return self.session_

    def app_pids(self):
        """The running app process of this suite (by binary and COUNTERSIGN_HOME, since a
        closing app may already be re-parented away from WebKitWebDriver), then its
        WebKit children."""
        app = os.path.realpath(self.app)
        marker = f"COUNTERSIGN_HOME={self.home}".encode()
        found = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.path.realpath(f"/proc/{d}/exe") != app:
                    continue
                with open(f"/proc/{d}/environ", "rb") as f:
                    if marker in f.read().split(b"\0"):
                        found.append(int(d))
            except OSError:
                pass
        if not found:
            return []
        found.sort()
        return descendants(found[0])

    def end_session(self):
        if self.session_:
            self.session_.quit()
            self.session_ = None
            # Closing the window only hides the app to the tray, and WebKitWebDriver
            # takes its time to end it; a second instance would just hand over to it
            # (single instance), so make sure this one is gone before the next session.
            deadline = time.time() + 5
            while time.time() < deadline and self.app_pids():
                time.sleep(0.1)
            pids = self.app_pids()
            if pids:
                os.kill(pids[0], signal.SIGTERM)
                deadline = time.time() + 5
                while time.time() < deadline and self.app_pids():
                    time.sleep(0.1)
            # ...and that the bus has let go of its single-instance name: a launch that
            # still sees it hands over to a process that is gone.
            deadline = time.time() + 5
            while time.time() < deadline and bus_name_owned(SINGLE_INSTANCE_NAME):
                time.sleep(0.1)

    def app_log_text(self):
        with open(self.app_log, errors="replace") as f:
            return f.read()
