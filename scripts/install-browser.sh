#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test, from Debian's packages. Idempotent: does nothing
# when chromium and its driver are already there. Never fails the caller: without a browser the test
# itself fails in CI with a clear message (and skips on a developer machine).
set -uo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium yourself to run the browser test" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-browser: not root and no sudo; install chromium and chromium-driver yourself" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >&2; then
    echo "install-browser: could not install chromium; the browser test will say so" >&2
fi
exit 0
