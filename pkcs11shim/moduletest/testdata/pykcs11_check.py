"""Drives the hsmsim PKCS#11 module through PyKCS11 as a Python application would.

Usage: python3 pykcs11_check.py MODULE, with the environment `hsmsim env` prints (the PIN is
$HSMSIM_PIN; the module finds the cluster through $HSMSIM_PKCS11_CONFIG). It makes an EC P-256
and an RSA-2048 key pair on the token, finds them again by label, signs with ECDSA, RSA PKCS#1
v1.5 and RSA-PSS and verifies in the HSM (a tampered signature must not verify), and wraps an AES
key under another with CKM_AES_KEY_WRAP_PAD and unwraps it, with token keys and with session
keys. It prints one JSON object on stdout: the public keys and signatures, for the caller to
check with an independent implementation, and what the wrap round trips and a few attribute
reads showed. A failure it can judge itself raises, so the exit status is not 0.
"""

import json
import os
import sys

import PyKCS11
from PyKCS11 import LowLevel
from PyKCS11.LowLevel import *  # noqa: F401,F403 (the CK* constants)

MESSAGE = b"signed through PyKCS11"
P256_OID = bytes.fromhex("06082a8648ce3d030107")


def rv_name(rv):
    return PyKCS11.CKR.get(rv, hex(rv))


def expect_error(what, rv_wanted, fn):
    """Runs fn, which must fail with rv_wanted; returns the name of the code it failed with."""
    try:
        fn()
    except PyKCS11.PyKCS11Error as e:
        if e.value != rv_wanted:
            raise AssertionError("%s: got %s, want %s" % (what, rv_name(e.value), rv_name(rv_wanted)))
        return rv_name(e.value)
    raise AssertionError("%s: succeeded, want %s" % (what, rv_name(rv_wanted)))


def find_one(session, label, cls):
    found = session.findObjects([(CKA_LABEL, label), (CKA_CLASS, cls)])
    if len(found) != 1:
        raise AssertionError("found %d objects of class %s labelled %r, want 1" % (len(found), PyKCS11.CKO[cls], label))
    return found[0]


def attribute_rv(session, obj, attr):
    """C_GetAttributeValue for one attribute, by hand: PyKCS11's getAttributeValue hides the code."""
    tmpl = LowLevel.ckattrlist(1)
    tmpl[0].SetType(attr)
    rv = session.lib.C_GetAttributeValue(session.session, obj, tmpl)
    if rv != CKR_OK:
        return rv_name(rv), None
    rv = session.lib.C_GetAttributeValue(session.session, obj, tmpl)
    if rv != CKR_OK:
        return rv_name(rv), None
    return rv_name(rv), bytes(tmpl[0].GetBin()).hex()


def key_pair(session, mech, label, key_id, pub, priv):
    common = [(CKA_TOKEN, True), (CKA_LABEL, label), (CKA_ID, key_id)]
    session.generateKeyPair(common + pub, common + [(CKA_PRIVATE, True), (CKA_SENSITIVE, True)] + priv, mecha=mech)
    # Found again by label, as an application that did not make them finds them.
    return find_one(session, label, CKO_PUBLIC_KEY), find_one(session, label, CKO_PRIVATE_KEY)


def sign_verify(session, pub, priv, mech):
    sig = bytes(session.sign(priv, MESSAGE, mech))
    if not session.verify(pub, MESSAGE, sig, mech):
        raise AssertionError("the HSM does not verify its own signature")
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 0x01
    if session.verify(pub, MESSAGE, bytes(bad), mech):
        raise AssertionError("the HSM verifies a tampered signature")
    return sig.hex()


def wrap_round_trip(session, token):
    """AES key wrap with padding (RFC 5649): a 256-bit key encryption key wraps a 128-bit key,
    which comes back as a new object that encrypts as the original does. token says whether the
    keys are token objects or session objects."""
    kek = session.generateKey([
        (CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32), (CKA_TOKEN, token),
        (CKA_LABEL, "py-kek"), (CKA_WRAP, True), (CKA_UNWRAP, True)])
    template = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, token),
                (CKA_ENCRYPT, True), (CKA_DECRYPT, True), (CKA_SENSITIVE, True)]
    data_key = session.generateKey(template + [(CKA_VALUE_LEN, 16), (CKA_LABEL, "py-data"), (CKA_EXTRACTABLE, True)])
    locked = session.generateKey(template + [(CKA_VALUE_LEN, 16), (CKA_LABEL, "py-locked"), (CKA_EXTRACTABLE, False)])
    kwp = PyKCS11.Mechanism(CKM_AES_KEY_WRAP_PAD, None)
    wrapped = bytes(session.wrapKey(kek, data_key, kwp))
    unwrapped = session.unwrapKey(kek, wrapped, template + [(CKA_LABEL, "py-unwrapped")], kwp)
    value_len, = session.getAttributeValue(unwrapped, [CKA_VALUE_LEN])
    block = bytes(range(16))
    ecb = PyKCS11.Mechanism(CKM_AES_ECB, None)
    same = bytes(session.encrypt(data_key, block, ecb)) == bytes(session.encrypt(unwrapped, block, ecb))
    bad = bytearray(wrapped)
    bad[-1] ^= 0x01
    try:
        session.unwrapKey(kek, bytes(bad), template + [(CKA_LABEL, "py-tampered")], kwp)
        tampered = "CKR_OK"
    except PyKCS11.PyKCS11Error as e:
        tampered = rv_name(e.value)
    return {
        "wrapped_len": len(wrapped),
        "unwrapped_value_len": value_len,
        "same_ciphertext": same,
        "tampered_unwrap": tampered,
        "unextractable_wrap": expect_error("wrapping a key that is not extractable", CKR_KEY_UNEXTRACTABLE,
                                           lambda: session.wrapKey(kek, locked, kwp)),
    }


def main():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(sys.argv[1])
    slots = lib.getSlotList(tokenPresent=True)
    if not slots:
        raise AssertionError("no slot with a token")
    slot = slots[0]
    token = lib.getTokenInfo(slot)
    session = lib.openSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
    session.login(os.environ["HSMSIM_PIN"])
    out = {"token": token.label.strip(), "message": MESSAGE.hex()}

    ec_pub, ec_priv = key_pair(
        session, PyKCS11.MechanismECGENERATEKEYPAIR, "py-ec", b"\x31",
        [(CKA_EC_PARAMS, P256_OID), (CKA_VERIFY, True)], [(CKA_SIGN, True)])
    point, = session.getAttributeValue(ec_pub, [CKA_EC_POINT], allAsBinary=True)
    out["ec"] = {
        "point": bytes(point).hex(),
        "ecdsa_sha256": sign_verify(session, ec_pub, ec_priv, PyKCS11.Mechanism(CKM_ECDSA_SHA256, None)),
    }
    rv, value = attribute_rv(session, ec_priv, CKA_ALWAYS_AUTHENTICATE)
    out["ec_priv_always_authenticate"] = {"rv": rv, "value": value}

    rsa_pub, rsa_priv = key_pair(
        session, PyKCS11.MechanismRSAGENERATEKEYPAIR, "py-rsa", b"\x32",
        [(CKA_MODULUS_BITS, 2048), (CKA_PUBLIC_EXPONENT, (0x01, 0x00, 0x01)), (CKA_VERIFY, True)],
        [(CKA_SIGN, True)])
    modulus, exponent = session.getAttributeValue(rsa_pub, [CKA_MODULUS, CKA_PUBLIC_EXPONENT], allAsBinary=True)
    pss = PyKCS11.RSA_PSS_Mechanism(CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256, CKG_MGF1_SHA256, 32)
    out["rsa"] = {
        "modulus": bytes(modulus).hex(),
        "exponent": bytes(exponent).hex(),
        "sha256_rsa_pkcs": sign_verify(session, rsa_pub, rsa_priv, PyKCS11.Mechanism(CKM_SHA256_RSA_PKCS, None)),
        "sha256_rsa_pkcs_pss": sign_verify(session, rsa_pub, rsa_priv, pss),
    }

    # The round trip with token keys must work; with session keys the caller judges the outcome.
    out["wrap_token_keys"] = wrap_round_trip(session, True)
    try:
        out["wrap_session_keys"] = wrap_round_trip(session, False)
    except PyKCS11.PyKCS11Error as e:
        out["wrap_session_keys"] = {"error": rv_name(e.value)}

    session.logout()
    session.closeSession()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
