#!/usr/bin/env bash
# The load generator is Debian's wrk (C, epoll): a Python loop would be the bottleneck.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  sudo apt-get install -y -q wrk >/dev/null
else
  echo "wrk is needed for make bench: install it with your package manager" >&2
  exit 1
fi
