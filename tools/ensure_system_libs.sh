#!/bin/sh
# System libraries PySide6 needs: the offscreen platform (tests), and the X11 (xcb) platform that a
# real window needs on a Linux desktop (Qt 6.5+ wants libxcb-cursor0 and friends; without them it
# aborts with "Could not load the Qt platform plugin 'xcb'"). Xvfb lets the tests open a real
# window; the desktop-file tests use desktop-file-validate and appstreamcli (they skip without them).
# Installed with apt when missing and we may (root on Debian/Ubuntu); otherwise we say what to install.
missing=""
for lib in libEGL.so.1 libGL.so.1 libfontconfig.so.1 libxkbcommon.so.0 libdbus-1.so.3 libglib-2.0.so.0 \
           libxcb-cursor.so.0 libxcb-icccm.so.4 libxcb-keysyms.so.1 libxcb-image.so.0 libxcb-randr.so.0 \
           libxcb-render-util.so.0 libxcb-shape.so.0 libxcb-xkb.so.1 libxkbcommon-x11.so.0 libX11-xcb.so.1; do
    ldconfig -p 2>/dev/null | grep -q "$lib" || missing="$missing $lib"
done
command -v Xvfb >/dev/null 2>&1 || missing="$missing Xvfb"
command -v desktop-file-validate >/dev/null 2>&1 || missing="$missing desktop-file-validate"
command -v appstreamcli >/dev/null 2>&1 || missing="$missing appstreamcli"
# The text-in-photos tests draw words in several TrueType fonts (Pillow's own font otherwise).
[ -d /usr/share/fonts/truetype/dejavu ] || missing="$missing fonts-dejavu"
[ -z "$missing" ] && exit 0
pkgs="libegl1 libgl1 libfontconfig1 libxkbcommon0 libdbus-1-3 libglib2.0-0 libxcb-cursor0 libxcb-icccm4 \
libxcb-keysyms1 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 \
libx11-xcb1 xvfb desktop-file-utils appstream fonts-dejavu-core"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing system packages Qt and the tests need:$missing" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
else
    echo "warning: the app may not open a window or some tests will skip: missing$missing. Install them with" \
         "your package manager (Debian/Ubuntu: sudo apt-get install $pkgs)." >&2
fi
exit 0
