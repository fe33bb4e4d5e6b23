"""A stand-in desktop for the e2e suite, on the private session bus of dbus-run-session:

- org.freedesktop.Notifications: records every Notify call (as JSON lines) and, when the
  test asks through org.countersign.Test.Click, emits ActionInvoked like a real server
  does when the user clicks a notification;
- a monitor of the bus's AddMatch calls: records when a client subscribes to the
  notification signals, so a test clicks only once the app can hear the click (a signal
  sent before the app's match rule is in place is lost, as on a real desktop);
- org.kde.StatusNotifierWatcher: lets the app's tray icon (libayatana-appindicator)
  register, and records where, so the test can read the tray's menu over D-Bus.
"""

import json
import os
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

    @dbus.service.method(IFACE, in_signature="susssasa{sv}i", out_signature="u", sender_keyword="sender",
                         async_callbacks=("reply", "error"))
    def Notify(self, app_name, replaces_id, icon, summary, body, actions, hints, timeout, sender=None,
               reply=None, error=None):
        self.next_id += 1
        nid = self.next_id
        # Reply first, record after: a test that sees the record may click at once, and the
        # app must already hold the id by then (the reply leaves before any later signal).
        reply(dbus.UInt32(nid))
        record(type="notify", id=nid, app_name=str(app_name), summary=str(summary), body=str(body),
               actions=[str(a) for a in actions], sender=str(sender))

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


def watch_subscriptions():
    """Records every AddMatch for the notification interface, with who sent it.

    A monitor connection only receives: the filter must claim each message, or libdbus
    answers method calls itself and the bus drops the monitor."""
    mon = dbus.bus.BusConnection(os.environ["DBUS_SESSION_BUS_ADDRESS"])

    def on_message(_conn, msg):
        if msg.get_member() == "AddMatch" and msg.get_interface() == "org.freedesktop.DBus":
            args = msg.get_args_list()
            rule = str(args[0]) if args else ""
            if Notifications.IFACE in rule:
                record(type="subscribed", sender=str(msg.get_sender()), rule=rule)
        return dbus.lowlevel.HANDLER_RESULT_HANDLED

    mon.add_message_filter(on_message)
    mon.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.Monitoring",
                      "BecomeMonitor", "asu",
                      (["type='method_call',interface='org.freedesktop.DBus',member='AddMatch'"], 0))
    return mon


def main():
    DBusGMainLoop(set_as_default=True)
    monitor = watch_subscriptions()
    bus = dbus.SessionBus()
    keep = [
        dbus.service.BusName("org.freedesktop.Notifications", bus),
        dbus.service.BusName("org.kde.StatusNotifierWatcher", bus),
    ]
    objs = [Notifications(bus), Watcher(bus)]
    record(type="ready")
    GLib.MainLoop().run()
    del keep, objs, monitor


if __name__ == "__main__":
    main()
