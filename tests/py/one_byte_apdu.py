#!/usr/bin/python3
"""Transmits a 1-byte APDU, then checks that the reader still works (issue 9 item 7).

    one_byte_apdu.py READER BYTE

BYTE (hex) 01 reads as vpcd's "power on" control message, so the card never answers it. Prints
one JSON object: {oneByte: {seconds, sw | error}, after: {sw}} and exits non-zero if the reader
does not recover within 20 s.
"""

import json
import sys
import time

from smartcard import scard

SELECT = list(bytes.fromhex("00A4040006F0534B530100"))


def connect(ctx, reader, deadline):
    while True:
        rv, card, proto = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
        )
        if rv == scard.SCARD_S_SUCCESS:
            return card, proto
        if time.time() > deadline:
            sys.exit(f"cannot connect to {reader}: {scard.SCardGetErrorMessage(rv)}")
        time.sleep(0.1)


def transmit(card, proto, apdu):
    rv, resp = scard.SCardTransmit(card, proto, apdu)
    if rv != scard.SCARD_S_SUCCESS:
        return {"error": scard.SCardGetErrorMessage(rv)}
    return {"sw": bytes(resp[-2:]).hex().upper()}


reader, byte = sys.argv[1], int(sys.argv[2], 16)
rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
deadline = time.time() + 20
card, proto = connect(ctx, reader, deadline)
started = time.time()
one = transmit(card, proto, [byte])
one["seconds"] = round(time.time() - started, 2)
scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
after = {"error": "not tried"}
while time.time() < deadline:
    card, proto = connect(ctx, reader, deadline)
    after = transmit(card, proto, SELECT)
    scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
    if after.get("sw") == "9000":
        break
    time.sleep(0.2)
print(json.dumps({"oneByte": one, "after": after}))
sys.exit(0 if after.get("sw") == "9000" else 1)
