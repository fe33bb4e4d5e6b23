"""Another process on the session bus pretending to be the notification daemon: it emits
`ActionInvoked(id, action)` (and, with --close, `NotificationClosed(id, 2)`) from its own
connection, the way any program running as the user can. The app must ignore it.

    forge_click.py ID ACTION [--close]
"""

import sys

import dbus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop

IFACE = "org.freedesktop.Notifications"


class Forger(dbus.service.Object):
    @dbus.service.signal(IFACE, signature="us")
    def ActionInvoked(self, nid, action):
        pass

    @dbus.service.signal(IFACE, signature="uu")
    def NotificationClosed(self, nid, reason):
        pass


def main():
    nid, action = int(sys.argv[1]), sys.argv[2]
    # Exporting an object needs a main loop attached; the signals go out without running it.
    DBusGMainLoop(set_as_default=True)
    bus = dbus.SessionBus()
    forger = Forger(bus, "/org/freedesktop/Notifications")
    forger.ActionInvoked(dbus.UInt32(nid), action)
    if "--close" in sys.argv[3:]:
        forger.NotificationClosed(dbus.UInt32(nid), dbus.UInt32(2))
    # Flushed, then a round trip to the bus daemon: the signals left before we exit.
    bus.flush()
    dbus.Interface(bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"), "org.freedesktop.DBus").GetId()
    print(bus.get_unique_name(), flush=True)


if __name__ == "__main__":
    main()
