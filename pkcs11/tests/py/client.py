"""python-pkcs11 (PyPI) as an independent programmatic client of libsks_pkcs11.so.

Usage: client.py MODULE PIN. Signs with the EC and RSA keys, decrypts an OAEP ciphertext,
derives an ECDH secret and checks every result with `cryptography`; checks the standard's
error for a wrong PIN. Prints one JSON object with what it checked; exits non-zero on failure.
"""
import json
import sys

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass, MGF
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

module, pin = sys.argv[1], sys.argv[2]
lib = pkcs11.lib(module)
slots = lib.get_slots(token_present=True)
assert len(slots) == 1, f"expected one token, got {slots}"
token = slots[0].get_token()
out = {"label": token.label, "serial": token.serial.decode() if isinstance(token.serial, bytes) else token.serial}

# A wrong PIN is refused with CKR_PIN_INCORRECT.
try:
    token.open(user_pin="0000")
    out["wrong_pin"] = "accepted"
except pkcs11.exceptions.PinIncorrect:
    out["wrong_pin"] = "CKR_PIN_INCORRECT"

with token.open(user_pin=pin) as session:
    def cert_key(label):
        for c in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.LABEL: label}):
            return x509.load_der_x509_certificate(c[Attribute.VALUE]).public_key()
        raise AssertionError(f"no certificate {label}")

    data = b"python-pkcs11 over PC/SC"
    ec_priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="ec-key")
    sig = ec_priv.sign(data, mechanism=Mechanism.ECDSA_SHA256)
    assert len(sig) == 64
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    cert_key("ec-key").verify(utils.encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
    out["ecdsa_sha256"] = "verified"

    rsa_priv = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label="rsa-key")
    sig = rsa_priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
    cert_key("rsa-key").verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    out["sha256_rsa_pkcs"] = "verified"

    ct = cert_key("rsa-key").encrypt(
        b"oaep secret",
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    pt = rsa_priv.decrypt(ct, mechanism=Mechanism.RSA_PKCS_OAEP,
                          mechanism_param=(Mechanism.SHA256, MGF.SHA256, None))
    assert pt == b"oaep secret", pt
    out["rsa_oaep_sha256"] = "decrypted"

    peer = ec.generate_private_key(ec.SECP256R1())
    point = peer.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    derived = ec_priv.derive_key(KeyType.GENERIC_SECRET, 256,
                                 mechanism_param=(pkcs11.KDF.NULL, None, point),
                                 template={Attribute.SENSITIVE: False, Attribute.EXTRACTABLE: True})
    z = derived[Attribute.VALUE]
    assert z == peer.exchange(ec.ECDH(), cert_key("ec-key")), "ECDH mismatch"
    out["ecdh"] = "matches"

    # An unknown mechanism for the key: CKR_MECHANISM_INVALID / CKR_KEY_TYPE_INCONSISTENT.
    try:
        ec_priv.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        out["bad_mechanism"] = "accepted"
    except (pkcs11.exceptions.MechanismInvalid, pkcs11.exceptions.KeyTypeInconsistent) as e:
        out["bad_mechanism"] = type(e).__name__

print(json.dumps(out))
