#!/usr/bin/env bash
# Make sure the admin's browser tests have a Chromium to drive (Debian's package; Playwright
# never downloads its own). Never fails: without a browser those tests skip, saying why.
set -u
if command -v chromium >/dev/null 2>&1 || [ -n "${CHROMIUM:-}" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tests: no Chromium and no apt-get: the admin's browser tests will be skipped"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "tests: no Chromium, and no root to install it: the admin's browser tests will be skipped"
    exit 0
fi
echo "tests: installing Chromium for the admin's browser tests (apt-get install chromium)"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q chromium >/dev/null 2>&1; then
    # The package lists may be missing on a fresh machine.
    $sudo apt-get update -q >/dev/null 2>&1
    $sudo apt-get install -y -q chromium >/dev/null 2>&1 ||
        echo "tests: Chromium could not be installed: the admin's browser tests will be skipped"
fi
exit 0
