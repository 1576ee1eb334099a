#!/bin/sh
# The main job: a virtual SKS card visible to PC/SC, with a demo provisioning.
#
#   1. installs what is missing (Debian packages, see install-deps.sh);
#   2. builds sks-card (the card, served through vsmartcard's vpcd) and sks (the CLI);
#   3. uses the system pcscd when one runs (or is socket-activated, as on a Debian desktop),
#      and starts one otherwise (root needed; sudo is used when not root);
#   4. starts the card, shows getDeviceInfo over PC/SC, provisions a demo credential from the
#      local issuer and lists the card's keys;
#   5. keeps the card in the reader until Ctrl-C (set SKS_DEMO_EXIT=1 to stop right away).
#
# Environment: SKS_STORE=PATH for the card image (default: sks-card's own default).
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release -p vsmartcard-adapter -p sks-cli
BIN=target/release

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

PCSCD_PID=""
CARD_PID=""
cleanup() {
    if [ -n "$CARD_PID" ]; then
        kill "$CARD_PID" 2>/dev/null || true
        wait "$CARD_PID" 2>/dev/null || true
    fi
    if [ -n "$PCSCD_PID" ]; then
        $SUDO kill "$PCSCD_PID" 2>/dev/null || true
    fi
}
trap 'status=$?; cleanup; exit $status' EXIT
trap 'exit 130' INT TERM

# A pcscd without the system socket is a private one (e.g. of a test run): not ours to use.
if pgrep -x pcscd >/dev/null 2>&1 && [ -S /run/pcscd/pcscd.comm ]; then
    echo "demo: using the running system pcscd"
elif command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet pcscd.socket 2>/dev/null; then
    echo "demo: using the system pcscd (socket activation)"
else
    echo "demo: no pcscd running; starting one (stopped again when the demo ends)"
    $SUDO mkdir -p /run/pcscd
    $SUDO pcscd --foreground >/tmp/sks-demo-pcscd.log 2>&1 &
    PCSCD_PID=$!
    # Clients can connect once pcscd has created its socket.
    i=0
    while [ ! -S /run/pcscd/pcscd.comm ] && [ $i -lt 100 ]; do
        sleep 0.05
        i=$((i + 1))
    done
fi

STORE_ARG=""
[ -n "${SKS_STORE:-}" ] && STORE_ARG="--store $SKS_STORE"
# shellcheck disable=SC2086 # optional argument pair
"$BIN/sks-card" --log-level warn $STORE_ARG &
CARD_PID=$!

echo "demo: waiting for the card in the vpcd reader (pcscd polls every 400 ms)"
"$BIN/sks" --timeout 20 info
echo
"$BIN/sks" provision
echo
"$BIN/sks" keys
echo
cat <<'TXT'
The card stays in the reader "Virtual PCD 00 00". Try, in another terminal:
  pcsc_scan
  opensc-tool -l
  opensc-tool -r 'Virtual PCD 00 00' -s 00A4040006F0534B530100
  target/release/sks keys
TXT
if [ "${SKS_DEMO_EXIT:-0}" = "1" ]; then
    exit 0
fi
echo "Press Ctrl-C to remove the card."
wait "$CARD_PID"
