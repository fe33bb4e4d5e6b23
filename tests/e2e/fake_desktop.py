"""A stand-in desktop for the e2e suite, on the private session bus of dbus-run-session:

- org.freedesktop.Notifications: records every Notify call (as JSON lines) and, when the
  test asks through org.countersign.Test.Click, emits ActionInvoked like a real server
  does when the user clicks a notification;
- org.kde.StatusNotifierWatcher: lets the app's tray icon (libayatana-appindicator)
  register, and records where, so the test can read the tray's menu over D-Bus.
"""

import json
import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

LOG = sys.argv[1]


def record(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(kw) + "\n")


class Notifications(dbus.service.Object):
    IFACE = "org.freedesktop.Notifications"

    def __init__(self, bus):
        super().__init__(bus, "/org/freedesktop/Notifications")
        self.next_id = 0

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u", sender_keyword="sender")
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout, sender=None):
        self.next_id += 1
        record(type="notify", id=self.next_id, app_name=str(app_name), summary=str(summary), body=str(body),
               actions=[str(a) for a in actions], sender=str(sender))
        return dbus.UInt32(self.next_id)

    @dbus.service.method(IFACE, in_signature="", out_signature="as")
    def GetCapabilities(self):
        # body-markup, as GNOME, KDE and dunst say: the app must escape agent text.
        return ["actions", "body", "body-markup"]

    @dbus.service.method(IFACE, in_signature="", out_signature="ssss")
    def GetServerInformation(self):
        return ("countersign-e2e", "countersign", "1.0", "1.2")

    @dbus.service.method(IFACE, in_signature="u", out_signature="")
    def CloseNotification(self, nid):
        self.NotificationClosed(nid, 3)

    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, nid, action):
        pass

    @dbus.service.signal(IFACE, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass

    @dbus.service.method("org.countersign.Test", in_signature="us", out_signature="")
    def Click(self, nid, action):
        self.ActionInvoked(dbus.UInt32(nid), action)


class Watcher(dbus.service.Object):
    IFACE = "org.kde.StatusNotifierWatcher"

    def __init__(self, bus):
        super().__init__(bus, "/StatusNotifierWatcher")
        self.items = []

    @dbus.service.method(IFACE, in_signature="s", out_signature="", sender_keyword="sender")
    def RegisterStatusNotifierItem(self, service, sender=None):
        path = service if service.startswith("/") else "/StatusNotifierItem"
        name = sender if service.startswith("/") else service
        self.items.append(f"{name}{path}")
        record(type="sni", service=str(name), path=str(path))
        self.StatusNotifierItemRegistered(f"{name}{path}")

    @dbus.service.method(IFACE, in_signature="s", out_signature="")
    def RegisterStatusNotifierHost(self, service):
        pass

    @dbus.service.signal(IFACE, signature="s")
    def StatusNotifierItemRegistered(self, item):
        pass

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="ss", out_signature="v")
    def Get(self, iface, prop):
        return self.GetAll(iface)[prop]

    @dbus.service.method(dbus.PROPERTIES_IFACE, in_signature="s", out_signature="a{sv}")
    def GetAll(self, iface):
        return {
            "RegisteredStatusNotifierItems": dbus.Array(self.items, signature="s"),
            "IsStatusNotifierHostRegistered": dbus.Boolean(True),
            "ProtocolVersion": dbus.Int32(0),
        }


def main():
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    keep = [
        dbus.service.BusName("org.freedesktop.Notifications", bus),
        dbus.service.BusName("org.kde.StatusNotifierWatcher", bus),
    ]
    objs = [Notifications(bus), Watcher(bus)]
    record(type="ready")
    GLib.MainLoop().run()
    del keep, objs


if __name__ == "__main__":
    main()
