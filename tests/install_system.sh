#!/usr/bin/env bash
# Make sure the tests that drive real system programs have them, from Debian's packages:
# Chromium for the admin's browser tests (Playwright never downloads its own) and PgBouncer
# for the pooler tests. Never fails: without a program its tests skip, saying why.
set -u
install() {  # install <command> <package> <what it is for>
    if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "tests: no $1 and no apt-get: $3 will be skipped"
        return 0
    fi
    if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
        echo "tests: no $1, and no root to install it: $3 will be skipped"
        return 0
    fi
    echo "tests: installing $2 for $3 (apt-get install $2)"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -q "$2" >/dev/null 2>&1; then
        # The package lists may be missing on a fresh machine.
        $sudo apt-get update -q >/dev/null 2>&1
        $sudo apt-get install -y -q "$2" >/dev/null 2>&1 ||
            echo "tests: $2 could not be installed: $3 will be skipped"
    fi
}
if [ -z "${CHROMIUM:-}" ]; then
    install chromium chromium "the admin's browser tests"
fi
install pgbouncer pgbouncer "the PgBouncer tests"
exit 0
