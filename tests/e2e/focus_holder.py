"""Another app holding the keyboard focus on the test's X display: a plain X window that
takes the input focus, then answers "focus?" on stdin with "yes" while the X server still
gives it the focus, "no" once something took it. libX11 through ctypes (no toolkit, no WM).
"""

import ctypes
import sys

x = ctypes.cdll.LoadLibrary("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XOpenDisplay.argtypes = [ctypes.c_char_p]
x.XDefaultRootWindow.restype = ctypes.c_ulong
x.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x.XCreateSimpleWindow.restype = ctypes.c_ulong
x.XCreateSimpleWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                                  ctypes.c_uint, ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulong]
x.XMapWindow.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
x.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
x.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
x.XGetInputFocus.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_int)]

ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


@ERROR_HANDLER
def ignore_errors(_display, _event):
    return 0


def main():
    x.XSetErrorHandler(ignore_errors)
    d = x.XOpenDisplay(None)
    if not d:
        sys.exit("no X display")
    w = x.XCreateSimpleWindow(d, x.XDefaultRootWindow(d), 0, 0, 300, 120, 0, 0, 0xFFFFFF)
    x.XMapWindow(d, w)
    x.XSync(d, 0)
    x.XSetInputFocus(d, w, 2, 0)  # RevertToParent, CurrentTime
    x.XSync(d, 0)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "focus?":
            x.XSync(d, 0)
            focus, revert = ctypes.c_ulong(), ctypes.c_int()
            x.XGetInputFocus(d, ctypes.byref(focus), ctypes.byref(revert))
            print("yes" if focus.value == w else f"no {focus.value:#x}", flush=True)


if __name__ == "__main__":
    main()
