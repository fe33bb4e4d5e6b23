"""Processes an e2e test needs: tauri-driver, the app (through WebDriver sessions)."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from wd import Session


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Harness:
    def __init__(self):
        self.app = os.environ["CS_APP"]
        self.tmp = tempfile.mkdtemp(prefix="countersign-e2e-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.driver = None
        self.session_ = None
        self.driver_port = free_port()

    def __enter__(self):
        env = dict(os.environ, COUNTERSIGN_HOME=self.home)
        native = free_port()
        self.driver_log = open(os.path.join(self.tmp, "tauri-driver.log"), "w")
        self.driver = subprocess.Popen(
            ["tauri-driver", "--port", str(self.driver_port), "--native-port", str(native)],
            env=env, stdout=self.driver_log, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.end_session()
        if self.driver:
            self.driver.terminate()
            self.driver.wait(10)
        if os.environ.get("CS_E2E_KEEP"):
            print("e2e files kept in", self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def session(self, args=None):
        self.end_session()
        self.session_ = Session(f"http://127.0.0.1:{self.driver_port}", self.app, args)
        return self.session_

    def end_session(self):
        if self.session_:
            self.session_.quit()
            self.session_ = None
