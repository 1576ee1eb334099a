#!/usr/bin/python3
"""N PIN-protected signatures over PC/SC, with pyscard (encoding from apdu-spec/README.md).

    sign_loop.py READER KEY_HANDLE PIN N

signHashedData [100] with ecdsa-sha256 over a fixed hash; exits non-zero on any failure.
"""

import struct
import sys

from smartcard import scard

ECDSA_SHA256 = b"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def short_array(b):
    return struct.pack(">H", len(b)) + b


def call(method, data):
    return [0x80, 0x52, method, 0x00, 0x00] + list(struct.pack(">H", len(data))) + list(data) + [0x00, 0x00]


reader, key, pin, n = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode(), int(sys.argv[4])
rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
rv, card, proto = scard.SCardConnect(ctx, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1)
if rv != scard.SCARD_S_SUCCESS:
    sys.exit(f"connect: {scard.SCardGetErrorMessage(rv)}")
rv, resp = scard.SCardTransmit(card, proto, list(bytes.fromhex("00A4040006F0534B530100")))
if rv != scard.SCARD_S_SUCCESS or resp[-2:] != [0x90, 0x00]:
    sys.exit(f"SELECT failed: {rv} {resp}")
args = (
    struct.pack(">I", key)
    + short_array(ECDSA_SHA256)
    + short_array(b"")
    + b"\x00"
    + short_array(pin)
    + short_array(bytes(range(32)))
)
apdu = call(100, args)
for i in range(n):
    rv, resp = scard.SCardTransmit(card, proto, apdu)
    if rv != scard.SCARD_S_SUCCESS or resp[-2:] != [0x90, 0x00] or resp[0] != 0:
        sys.exit(f"signature {i} failed: {rv} {bytes(resp[:80]).hex()}")
scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
print(n)
