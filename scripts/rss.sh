#!/bin/sh
# Memory of the card under an unbounded stream of commits (issue 9 item 6): RSS of an sks-card
# process before and after N PIN-protected signatures over PC/SC (each commits twice: the
# attempt is counted, then reset). Runs its own private pcscd (root, own mount namespace).
#
#   scripts/rss.sh [SKS_CARD_BINARY] [N]     # defaults: target/release/sks-card, 20000
set -eu
cd "$(dirname "$0")/.."
CARD="${1:-target/release/sks-card}"
N="${2:-20000}"
[ -x "$CARD" ] || cargo build --release -p vsmartcard-adapter -p sks-cli >&2
SKS="$(dirname "$CARD")/sks"
[ -x "$SKS" ] || SKS=target/release/sks

DIR=$(mktemp -d)
PORT=$((40000 + $$ % 10000 * 2 % 10000))
mkdir -p "$DIR/conf" "$DIR/ipc"
printf 'FRIENDLYNAME "RSS PCD"\nDEVICENAME /dev/null:%s\nLIBPATH /usr/lib/pcsc/drivers/serial/libifdvpcd.so\n' "$PORT" > "$DIR/conf/vpcd"
unshare --mount --propagation private sh -c \
    "mkdir -p /run/pcscd && mount --bind '$DIR/ipc' /run/pcscd && exec pcscd --foreground -c '$DIR/conf'" \
    > "$DIR/pcscd.log" 2>&1 &
PCSCD=$!
i=0
while [ ! -S "$DIR/ipc/pcscd.comm" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$CARD" --port "$PORT" --store "$DIR/card.img" --log-level warn 2> "$DIR/card.log" &
CARDPID=$!
cleanup() { kill "$CARDPID" "$PCSCD" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
export PCSCLITE_CSOCK_NAME="$DIR/ipc/pcscd.comm"
READER="RSS PCD 00 00"

"$SKS" --reader "$READER" --timeout 20 provision --pin 1234 > "$DIR/provision.txt"
KEY=$(awk '/^Key /{k=$2} /Sign.P256/{print k; exit}' "$DIR/provision.txt")
rss() { awk '/^VmRSS/{print $2}' "/proc/$CARDPID/status"; }
/usr/bin/python3 tests/py/sign_loop.py "$READER" "$KEY" 1234 200 > /dev/null   # warm up
BEFORE=$(rss)
START=$(date +%s.%N)
/usr/bin/python3 tests/py/sign_loop.py "$READER" "$KEY" 1234 "$N" > /dev/null
END=$(date +%s.%N)
AFTER=$(rss)
awk -v b="$BEFORE" -v a="$AFTER" -v n="$N" -v s="$START" -v e="$END" -v c="$CARD" 'BEGIN {
    printf "%s: RSS %d KiB before, %d KiB after %d PIN-protected signatures over PC/SC (%+d KiB); %.0f signatures/s\n",
        c, b, a, n, a - b, n / (e - s) }'
