#!/bin/sh
# Qt (PySide6) needs a few system libraries even for its offscreen platform. Install them
# with apt when they are missing and we may (root on Debian/Ubuntu); otherwise say what to do.
missing=""
for lib in libEGL.so.1 libGL.so.1 libfontconfig.so.1 libxkbcommon.so.0 libdbus-1.so.3 libglib-2.0.so.0; do
    ldconfig -p 2>/dev/null | grep -q "$lib" || missing="$missing $lib"
done
# The text-in-photos tests draw words in several TrueType fonts (Pillow's own font otherwise).
if [ ! -d /usr/share/fonts/truetype/dejavu ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
[ -z "$missing" ] && exit 0
pkgs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system libraries Qt needs:$missing" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null
else
    echo "warning: Qt may not start: missing$missing. Install them with your package manager (Debian: sudo apt-get install $pkgs)." >&2
fi
exit 0
