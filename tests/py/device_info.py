#!/usr/bin/python3
"""An independent SKS client: getDeviceInfo [1] over PC/SC with pyscard.

Written from apdu-spec/README.md alone (sections 1, 2, 4 and "getDeviceInfo [1]"); it shares no
code with the Rust client. Run it with Debian's /usr/bin/python3 (python3-pyscard) and, to reach
a private pcscd, PCSCLITE_CSOCK_NAME in the environment.

    device_info.py READER [--le N]

READER is the exact PC/SC reader name. --le sets the Le of the call and of every GET RESPONSE
(0 = 65,536, the extended maximum; default 0); a small Le forces the 61xx + GET RESPONSE path.

Prints one JSON object on stdout:
    {apiLevel, deviceType, updateUrl, vendorName, vendorDescription,
     certificates: [hex DER...], supportedAlgorithms: [uri...], cryptoDataSize,
     extensionDataSize, devicePinSupport, biometricSupport,
     transport: {selectSw, getResponses, chunkSizes, responseLength, firstSw}}
Exits non-zero with a message on stderr on any protocol error.
"""

import json
import sys

from smartcard import scard

AID = bytes.fromhex("F0534B530100")
SW_OK = 0x9000


class ProtocolError(Exception):
    pass


def check(hresult, what):
    if hresult != scard.SCARD_S_SUCCESS:
        raise ProtocolError(f"{what}: {scard.SCardGetErrorMessage(hresult)} ({hresult:#x})")


def transmit(hcard, protocol, apdu):
    hresult, response = scard.SCardTransmit(hcard, protocol, list(apdu))
    check(hresult, f"SCardTransmit({bytes(apdu[:4]).hex()}...)")
    if len(response) < 2:
        raise ProtocolError(f"response shorter than a status word: {bytes(response).hex()}")
    data = bytes(response[:-2])
    sw = (response[-2] << 8) | response[-1]
    return data, sw


def select(hcard, protocol):
    # README 4.1: short APDU, no Le.
    apdu = bytes([0x00, 0xA4, 0x04, 0x00, len(AID)]) + AID
    data, sw = transmit(hcard, protocol, apdu)
    if sw != SW_OK:
        raise ProtocolError(f"SELECT answered {sw:04X}")
    return sw


def sks_call(hcard, protocol, method_id, arguments, le):
    """README 4.2-4.4: one unchained call (arguments < 65,536 bytes), 61xx + GET RESPONSE."""
    header = bytes([0x80, 0x52, method_id, 0x00])
    le_bytes = le.to_bytes(2, "big")
    if arguments:
        apdu = header + b"\x00" + len(arguments).to_bytes(2, "big") + arguments + le_bytes
    else:
        apdu = header + b"\x00" + le_bytes  # case 2E: 00 Le1 Le2
    data, sw = transmit(hcard, protocol, apdu)
    first_sw = sw
    chunks = [data]
    get_responses = 0
    while (sw >> 8) == 0x61:
        get_responses += 1
        if get_responses > 10000:
            raise ProtocolError("card keeps answering 61xx")
        # GET RESPONSE, extended case 2E.
        data, sw = transmit(hcard, protocol, bytes([0x00, 0xC0, 0x00, 0x00, 0x00]) + le_bytes)
        chunks.append(data)
    if sw != SW_OK:
        raise ProtocolError(f"call {method_id} ended with status word {sw:04X}")
    info = {
        "getResponses": get_responses,
        "chunkSizes": [len(c) for c in chunks],
        "firstSw": f"{first_sw:04X}",
    }
    return b"".join(chunks), info


class Reader:
    """README section 1: big-endian integers, ushort-prefixed byte[]/string/uri, ushort-counted
    lists; a message must be consumed exactly."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolError(f"truncated response at offset {self.pos} (+{n})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def byte(self):
        return self.take(1)[0]

    def boolean(self):
        b = self.byte()
        if b not in (0, 1):
            raise ProtocolError(f"bool byte {b:#04x}")
        return b == 1

    def ushort(self):
        return int.from_bytes(self.take(2), "big")

    def uint(self):
        return int.from_bytes(self.take(4), "big")

    def byte_array(self):
        return self.take(self.ushort())

    def string(self):
        return self.byte_array().decode("utf-8")

    def uri(self):
        s = self.byte_array()
        if len(s) > 1000:
            raise ProtocolError("uri longer than 1000 bytes")
        return s.decode("utf-8")

    def list_of(self, element):
        return [element() for _ in range(self.ushort())]

    def end(self):
        if self.pos != len(self.data):
            raise ProtocolError(f"{len(self.data) - self.pos} trailing bytes")


def parse_device_info(response):
    r = Reader(response)
    status = r.byte()
    if status != 0:
        message = r.string() if status <= 0x0D else ""
        raise ProtocolError(f"SKS error {status:#04x}: {message}")
    out = {
        "apiLevel": r.ushort(),
        "deviceType": r.byte(),
        "updateUrl": r.uri(),
        "vendorName": r.string(),
        "vendorDescription": r.string(),
        "certificates": [c.hex() for c in r.list_of(r.byte_array)],
        "supportedAlgorithms": r.list_of(r.uri),
        "cryptoDataSize": r.uint(),
        "extensionDataSize": r.uint(),
        "devicePinSupport": r.boolean(),
        "biometricSupport": r.boolean(),
    }
    r.end()
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    reader = argv[1]
    le = 0
    if len(argv) >= 4 and argv[2] == "--le":
        le = int(argv[3], 0)
    hresult, hcontext = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    check(hresult, "SCardEstablishContext")
    try:
        hresult, readers = scard.SCardListReaders(hcontext, [])
        check(hresult, "SCardListReaders")
        if reader not in readers:
            raise ProtocolError(f"reader {reader!r} not among {readers!r}")
        hresult, hcard, protocol = scard.SCardConnect(
            hcontext, reader, scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
        check(hresult, "SCardConnect")
        try:
            select_sw = select(hcard, protocol)
            response, info = sks_call(hcard, protocol, 0x01, b"", le)
        finally:
            # Leave the card as it is (no reset), like the Rust client.
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
    finally:
        scard.SCardReleaseContext(hcontext)
    out = parse_device_info(response)
    info["selectSw"] = f"{select_sw:04X}"
    info["responseLength"] = len(response)
    info["protocol"] = "T=0" if protocol == scard.SCARD_PROTOCOL_T0 else "T=1"
    out["transport"] = info
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except ProtocolError as e:
        print(f"device_info.py: {e}", file=sys.stderr)
        sys.exit(1)
