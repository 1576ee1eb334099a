#!/usr/bin/python3
"""getDeviceInfo and a signature from an SKS card, with pyscard (Debian: python3-pyscard).

    sks_sign.py READER KEY_HANDLE PIN SHA256_HEX

Prints the card's vendor and API level, then the ECDSA signature (raw r || s, hex) of the
SHA-256 hash with key KEY_HANDLE. The wire format is apdu-spec/README.md: SELECT the AID,
then each SKS call is `80 52 <method id> 00` with extended Lc/Le; the answer's first byte is
the SKS status (00 = ok), long answers come as 61xx + GET RESPONSE.
"""

import struct
import sys

from smartcard.System import readers

AID = bytes.fromhex("F0534B530100")
GET_DEVICE_INFO, SIGN_HASHED_DATA = 0x01, 0x64
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"


def call(conn, method, args=b""):
    apdu = bytes([0x80, 0x52, method, 0x00])
    if args:
        apdu += b"\x00" + struct.pack(">H", len(args)) + args + b"\x00\x00"
    else:
        apdu += b"\x00\x00\x00"
    data, sw1, sw2 = conn.transmit(list(apdu))
    out = bytes(data)
    while sw1 == 0x61:  # more data: GET RESPONSE with an extended Le
        data, sw1, sw2 = conn.transmit([0x00, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00])
        out += bytes(data)
    if (sw1, sw2) != (0x90, 0x00):
        raise SystemExit(f"status word {sw1:02X}{sw2:02X}")
    if out[0] != 0:
        (n,) = struct.unpack(">H", out[1:3])
        raise SystemExit(f"SKS error {out[0]}: {out[3:3 + n].decode()}")
    return out[1:]


def blob(b):  # byte[], uri, string: ushort length || bytes
    return struct.pack(">H", len(b)) + b


def take(data, off):
    (n,) = struct.unpack(">H", data[off:off + 2])
    return data[off + 2:off + 2 + n], off + 2 + n


def main():
    reader_name, key, pin, digest = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    reader = next(r for r in readers() if str(r) == reader_name)
    conn = reader.createConnection()
    conn.connect()
    _, sw1, sw2 = conn.transmit([0x00, 0xA4, 0x04, 0x00, len(AID)] + list(AID))
    assert (sw1, sw2) == (0x90, 0x00), "SELECT"

    info = call(conn, GET_DEVICE_INFO)
    (api_level,) = struct.unpack(">H", info[0:2])
    _, off = take(info, 3)  # updateUrl, after apiLevel and deviceType
    vendor, off = take(info, off)
    print(f"vendor: {vendor.decode()}")
    print(f"apiLevel: {api_level}")

    args = (struct.pack(">I", key) + blob(ECDSA_SHA256.encode()) + blob(b"")
            + b"\x00" + blob(pin.encode()) + blob(bytes.fromhex(digest)))
    signature, _ = take(call(conn, SIGN_HASHED_DATA, args), 0)
    print(f"signature: {signature.hex()}")


if __name__ == "__main__":
    main()
