#!/bin/sh
# Installs the Debian packages the SKS workspace needs to build and to run its conformance
# tests (pcscd + vsmartcard's vpcd reader driver, PC/SC headers, PC/SC tools, pyscard, openssl).
# Idempotent: installs only what dpkg-query reports missing; does nothing when all are there.
# Run as root, or as a user with sudo.
set -eu

PACKAGES="pcscd libpcsclite-dev libssl-dev pkg-config vsmartcard-vpcd pcsc-tools opensc python3-pyscard python3-cryptography openssl util-linux mount"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing="$missing $pkg"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all packages present:$(printf ' %s' $PACKAGES)"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: missing:$missing; run this script as root (sudo is not available)" >&2
    exit 1
fi

echo "install-deps: installing:$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
