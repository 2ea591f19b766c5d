#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (or $EBM_LAB_CHROMIUM): install it when it is missing and
# this runs as root, otherwise stop with one line giving the command that installs it.
set -euo pipefail
binary="${EBM_LAB_CHROMIUM:-/usr/bin/chromium}"
[ -x "$binary" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's Chromium for the browser tests" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [ -x "$binary" ] && exit 0
  echo "Debian's chromium is installed but $binary is still missing: set EBM_LAB_CHROMIUM to its binary" >&2
  exit 1
fi
echo "the browser tests need Chromium at $binary: run \`sudo apt-get install -y chromium\`" \
  "(or set EBM_LAB_CHROMIUM to a Chromium binary)" >&2
exit 1
