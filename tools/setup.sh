#!/bin/sh
# setup.sh: install what exprc needs on Debian 12 (only what is missing),
# then configure and build. Usage: sh tools/setup.sh [BUILD_DIR [MESON_ARGS...]]
set -e
cd "$(dirname "$0")/.."
pkgs="gcc libc6-dev pkg-config meson ninja-build libtcc-dev check libopenblas-dev"
# locales: de_DE.UTF-8 for tests/test_safety.c; man-db: the man page's test
pkgs="$pkgs locales man-db"
# Open MPI, for examples/train_mpi and its test (built only when found)
pkgs="$pkgs libopenmpi-dev openmpi-bin"
# exprc explain: graphviz draws its graphs; its browser test drives Debian's
# chromium through chromium-driver; hyperfine times bench/startup
pkgs="$pkgs graphviz chromium chromium-driver hyperfine"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null
fi
# tests/test_safety.c runs the library under de_DE.UTF-8, whose decimal
# point is a comma; generate that locale if the system lacks it.
if ! locale -a 2>/dev/null | grep -qix 'de_DE\.utf-\?8'; then
  echo "setup: generating the de_DE.UTF-8 locale"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  if grep -q '^# *de_DE\.UTF-8 UTF-8' /etc/locale.gen; then
    $sudo sed -i 's/^# *\(de_DE\.UTF-8 UTF-8\)/\1/' /etc/locale.gen
  elif ! grep -q '^de_DE\.UTF-8 UTF-8' /etc/locale.gen; then
    echo 'de_DE.UTF-8 UTF-8' | $sudo tee -a /etc/locale.gen >/dev/null
  fi
  $sudo locale-gen >/dev/null
fi
build=${1:-build}
[ $# -gt 0 ] && shift
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$@" >/dev/null
fi
ninja -C "$build" >/dev/null
echo "setup: built $build"
