#!/bin/sh
# Qt (PySide6) needs a few system libraries even for its offscreen platform, and the desktop-file tests
# use desktop-file-validate and appstreamcli. Install them with apt when they are missing and we may
# (root on Debian/Ubuntu); otherwise say what to do (the tests that need the tools skip without them).
missing=""
pkgs=""
for lib in libEGL.so.1 libGL.so.1 libfontconfig.so.1 libxkbcommon.so.0 libdbus-1.so.3 libglib-2.0.so.0; do
    ldconfig -p 2>/dev/null | grep -q "$lib" || missing="$missing $lib"
done
[ -n "$missing" ] && pkgs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0"
command -v desktop-file-validate >/dev/null 2>&1 || { missing="$missing desktop-file-validate"; pkgs="$pkgs desktop-file-utils"; }
command -v appstreamcli >/dev/null 2>&1 || { missing="$missing appstreamcli"; pkgs="$pkgs appstream"; }
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages Qt and the tests need:$missing" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
else
    echo "warning: missing$missing. Install them with your package manager (Debian: sudo apt-get install$pkgs)." >&2
fi
exit 0
