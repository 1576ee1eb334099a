#!/bin/sh
# Installs the Debian packages the SKS workspace needs to build and to run its conformance
# tests (pcscd + vsmartcard's vpcd reader driver, PC/SC headers, PC/SC tools, pyscard, openssl,
# jsonschema for the sks --json schema test, a JDK for the javax.smartcardio example)
# and the PKCS #11 module's client tests (pkcs11-tool, p11tool, the OpenSSL pkcs11 engine, ssh,
# SoftHSM2 for the benchmark, python-pkcs11 from PyPI).
# Idempotent: installs only what dpkg-query reports missing; does nothing when all are there.
# Run as root, or as a user with sudo.
set -eu

PACKAGES="pcscd libpcsclite-dev libssl-dev pkg-config vsmartcard-vpcd pcsc-tools opensc python3-pyscard python3-cryptography python3-jsonschema openjdk-17-jdk-headless openssl util-linux mount gnutls-bin libengine-pkcs11-openssl openssh-client softhsm2 python3-pip"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing="$missing $pkg"
    fi
done

# python-pkcs11 (PyPI) for Debian's /usr/bin/python3: the PKCS #11 module's Python client test.
PYTHON=/usr/bin/python3
need_pip_pkcs11() {
    ! "$PYTHON" -c 'import pkcs11' >/dev/null 2>&1
}

if [ -z "$missing" ]; then
    echo "install-deps: all packages present:$(printf ' %s' $PACKAGES)"
    if need_pip_pkcs11; then
        : # only python-pkcs11 is missing: installed below
    else
        exit 0
    fi
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: missing:$missing; run this script as root (sudo is not available)" >&2
    exit 1
fi

if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi

if need_pip_pkcs11; then
    echo "install-deps: installing python-pkcs11 (PyPI) for $PYTHON"
    # Debian 12 marks its Python as externally managed; this one package goes next to the
    # Debian packages (it has no Debian package).
    $SUDO "$PYTHON" -m pip install --break-system-packages --no-input 'python-pkcs11<1'
fi
