#!/usr/bin/env python3
"""Independent cryptography for the SKS User API / key management conformance tests.

Runs with Debian's python3 and its `cryptography` package (OpenSSL), so nothing here shares code
with the card (RustCrypto). Reads one JSON request object, or a list of them, on stdin and
writes the result object (or list) on stdout. Every binary value is lower-case hex.

Requests (field "op"):
  verify       {cert|spki, hash: sha1|sha256|sha384|sha512|none, data, signature}
               ECDSA: signature is raw r||s (converted to DER here); "none" applies the
               standard bits2int truncation to `data`. RSA: PKCS#1 v1.5 over the pre-hashed
               data (DigestInfo added by OpenSSL); "none" is checked with the raw RSA public
               operation: EM must be 00 01 FF..FF 00 || data.                 -> {ok, why?}
  rsa_encrypt  {cert|spki, padding: pkcs1|oaep_sha1|oaep_sha256, plaintext}   -> {ciphertext}
  ecdh         {cert|spki, curve?}   a fresh peer key (on the card key's curve unless `curve`
               is given); shared x-coordinate with the card key's public key -> {spki, shared}
  ec_spki      {curve}  a fresh public key on `curve` (p256|p384|p521)        -> {spki}
  rsa_spki     {bits}   a fresh RSA public key                                 -> {spki}
  hmac         {hash, key, data}  (Python's hmac/hashlib)                       -> {mac}
  aes          {mode: ecb|cbc, encrypt: bool, key, iv?, data, pkcs7: bool}     -> {result} or
               {error}
  pkcs8        {pkcs8, cert|spki}  parses the PKCS#8 private key and compares its public key
               with the certificate's                       -> {matches, kind, pkcs8_public}
  genkey       {kind: ec, curve} | {kind: rsa, bits, e?}    -> {pkcs8, spki}
  cert_spki    {cert}                                       -> {spki}
"""

import hashlib
import hmac
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sympad
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HASHES = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
CURVES = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}
SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def unhex(s):
    return bytes.fromhex(s)


def public_key(req):
    if "cert" in req:
        return x509.load_der_x509_certificate(unhex(req["cert"])).public_key()
    return serialization.load_der_public_key(unhex(req["spki"]))


def spki_of(key):
    return key.public_bytes(*SPKI)


def op_verify(req):
    key = public_key(req)
    data = unhex(req["data"])
    sig = unhex(req["signature"])
    alg = req["hash"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        n = (key.curve.key_size + 7) // 8
        if len(sig) != 2 * n:
            return {"ok": False, "why": f"signature is {len(sig)} bytes, expected {2 * n}"}
        r = int.from_bytes(sig[:n], "big")
        s = int.from_bytes(sig[n:], "big")
        der = utils.encode_dss_signature(r, s)
        if alg == "none":
            # bits2int (RFC 6979 2.3.2 / SEC1): the leftmost qlen bits of the data.
            qlen = key.curve.key_size
            e = int.from_bytes(data, "big")
            if len(data) * 8 > qlen:
                e >>= len(data) * 8 - qlen
            # Present e as a digest that OpenSSL will not truncate any further.
            h = {256: hashes.SHA256, 384: hashes.SHA384, 521: hashes.SHA512}[qlen]
            digest = e.to_bytes(h.digest_size, "big")
            prehashed = utils.Prehashed(h())
            data = digest
        else:
            prehashed = utils.Prehashed(HASHES[alg]())
        try:
            key.verify(der, data, ec.ECDSA(prehashed))
            return {"ok": True}
        except InvalidSignature:
            return {"ok": False, "why": "ECDSA signature does not verify"}
    if isinstance(key, rsa.RSAPublicKey):
        k = (key.key_size + 7) // 8
        if len(sig) != k:
            return {"ok": False, "why": f"signature is {len(sig)} bytes, expected {k}"}
        if alg == "none":
            pn = key.public_numbers()
            em = pow(int.from_bytes(sig, "big"), pn.e, pn.n).to_bytes(k, "big")
            expected = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
            if em == expected:
                return {"ok": True}
            return {"ok": False, "why": "EM mismatch: " + em.hex()}
        try:
            key.verify(sig, data, padding.PKCS1v15(), utils.Prehashed(HASHES[alg]()))
            return {"ok": True}
        except InvalidSignature:
            return {"ok": False, "why": "RSA signature does not verify"}
    return {"ok": False, "why": f"unsupported key type {type(key).__name__}"}


def op_rsa_encrypt(req):
    key = public_key(req)
    pt = unhex(req["plaintext"])
    p = req["padding"]
    if p == "pkcs1":
        pad = padding.PKCS1v15()
    elif p == "oaep_sha1":
        pad = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    elif p == "oaep_sha256":
        pad = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
    else:
        raise ValueError(p)
    return {"ciphertext": key.encrypt(pt, pad).hex()}


def op_ecdh(req):
    card = public_key(req)
    curve = CURVES[req["curve"]]() if "curve" in req else card.curve
    peer = ec.generate_private_key(curve)
    out = {"spki": spki_of(peer.public_key()).hex()}
    if type(curve) is type(card.curve):
        out["shared"] = peer.exchange(ec.ECDH(), card).hex()
    return out


def op_ec_spki(req):
    return {"spki": spki_of(ec.generate_private_key(CURVES[req["curve"]]()).public_key()).hex()}


def op_rsa_spki(req):
    key = rsa.generate_private_key(public_exponent=65537, key_size=req["bits"])
    return {"spki": spki_of(key.public_key()).hex()}


def op_hmac(req):
    mac = hmac.new(unhex(req["key"]), unhex(req["data"]), getattr(hashlib, req["hash"]))
    return {"mac": mac.hexdigest()}


def op_aes(req):
    key = unhex(req["key"])
    data = unhex(req["data"])
    mode = modes.ECB() if req["mode"] == "ecb" else modes.CBC(unhex(req["iv"]))
    cipher = Cipher(algorithms.AES(key), mode)
    try:
        if req["encrypt"]:
            if req.get("pkcs7"):
                p = sympad.PKCS7(128).padder()
                data = p.update(data) + p.finalize()
            e = cipher.encryptor()
            return {"result": (e.update(data) + e.finalize()).hex()}
        d = cipher.decryptor()
        out = d.update(data) + d.finalize()
        if req.get("pkcs7"):
            u = sympad.PKCS7(128).unpadder()
            out = u.update(out) + u.finalize()
        return {"result": out.hex()}
    except ValueError as e:
        return {"error": str(e)}


def describe(key):
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ec:" + key.curve.name
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return f"rsa:{key.key_size}"
    return type(key).__name__


def op_pkcs8(req):
    private = serialization.load_der_private_key(unhex(req["pkcs8"]), password=None)
    expected = public_key(req)
    mine = spki_of(private.public_key())
    return {
        "matches": mine == spki_of(expected),
        "kind": describe(private),
        "pkcs8_public": mine.hex(),
    }


def op_genkey(req):
    if req["kind"] == "ec":
        key = ec.generate_private_key(CURVES[req["curve"]]())
    else:
        key = rsa.generate_private_key(public_exponent=req.get("e", 65537), key_size=req["bits"])
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {"pkcs8": pkcs8.hex(), "spki": spki_of(key.public_key()).hex()}


def op_cert_spki(req):
    return {"spki": spki_of(public_key(req)).hex()}


OPS = {name[3:]: f for name, f in globals().items() if name.startswith("op_")}


def run(req):
    try:
        return OPS[req["op"]](req)
    except Exception as e:  # reported to the Rust side, which fails the test with it
        return {"exception": f"{type(e).__name__}: {e}"}


def main():
    req = json.load(sys.stdin)
    out = [run(r) for r in req] if isinstance(req, list) else run(req)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
