#!/usr/bin/env bash
# Make sure Debian's headless Chromium (and its WebDriver) is installed for the browser tests.
# Idempotent and quiet: does nothing when /usr/bin/chromium is already there. Without apt-get or
# root it installs nothing and says why; the browser tests then skip with the same reason.
set -euo pipefail

PACKAGES=(chromium chromium-driver)

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no apt-get on this machine; install Chromium yourself (packages: ${PACKAGES[*]}) to run the browser tests" >&2
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=""
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure_chromium: not root and no password-less sudo; run as root: apt-get install -y ${PACKAGES[*]}" >&2
        exit 0
    fi
else
    SUDO=""
fi

export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing or stale on a fresh machine: refresh them once, quietly.
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
echo "ensure_chromium: installed ${PACKAGES[*]}"
