#!/usr/bin/env bash
# Install the Debian/Ubuntu packages the tests use, if they are missing:
#   chromium      the browser test walks the built site in headless Chromium
#   bubblewrap    the grader runs student notebooks inside a bubblewrap sandbox
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: missing ${need[*]}, and this is not a Debian-like system: install them with your package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: missing ${need[*]}; run as root: apt-get install ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "Installing ${need[*]} with apt-get"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" fonts-dejavu-core >/dev/null
