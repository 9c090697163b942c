package mech

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Ed25519 as PKCS #11 v3.0 defines it (Current Mechanisms v3.0 "Edwards Elliptic curve public
// key objects", "Edwards Elliptic curve private key objects", "EdDSA"):
// key type CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN and CKM_EDDSA. Only the edwards25519
// curve, and only pure Ed25519 (RFC 8032 §5.1): CKM_EDDSA without a parameter, since a
// CK_EDDSA_PARAMS asks for Ed25519ctx or Ed25519ph. AWS CloudHSM's mechanism and key type
// lists have no EdDSA, so the PKCS#11 module offers it in profile standard only.

// The two forms v3.0 gives CKA_EC_PARAMS for an Edwards curve: the curve name as a DER
// PrintableString, or the curve's OID, here RFC 8410's id-Ed25519 (1.3.101.112), the one
// OpenSC's pkcs11-tool writes. Either is accepted and kept as given.
var (
	ed25519Name = []byte{0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'}
	ed25519OID  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
)

// edBits is the size of edwards25519's field, 2^255 - 19: CK_MECHANISM_INFO's key size.
const edBits = 255

// ckfECCurveName is v3.0's CKF_EC_CURVENAME ("can be used with EC domain parameters of the
// choice curveName"), newer than the v2.40 header the constants come from. CKF_EC_NAMEDCURVE
// is v3.0's CKF_EC_OID under its old name.
const ckfECCurveName = 0x04000000

func init() {
	flags := uint64(p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | ckfECCurveName)
	register(p11.CKM_EC_EDWARDS_KEY_PAIR_GEN, &entry{minKey: edBits, maxKey: edBits, extraFlags: flags,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC_EDWARDS)},
		genPair: edGenerate})
	register(p11.CKM_EDDSA, &entry{minKey: edBits, maxKey: edBits, extraFlags: flags, sign: edSign, verify: edVerify, check: edCheck})
}

// edParams checks a CKA_EC_PARAMS names edwards25519: CKR_CURVE_NOT_SUPPORTED for another curve
// name or OID (edwards448 among them), CKR_ATTRIBUTE_VALUE_INVALID for something that is neither.
func edParams(params []byte) error {
	if bytes.Equal(params, ed25519Name) || bytes.Equal(params, ed25519OID) {
		return nil
	}
	var v asn1.RawValue
	if rest, err := asn1.Unmarshal(params, &v); err == nil && len(rest) == 0 &&
		(v.Tag == asn1.TagOID || v.Tag == asn1.TagPrintableString) && v.Class == asn1.ClassUniversal {
		return p11.Errorf(p11.CKR_CURVE_NOT_SUPPORTED, "only edwards25519 is supported")
	}
	return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_PARAMS is neither a curve name nor an OID")
}

// edPoint reads CKA_EC_POINT: v3.0 gives "DER-encoding of the b-bit public key value in little
// endian order as defined in RFC 8032", an OCTET STRING of 32 bytes; the bare 32 bytes, which
// some applications write, are accepted too.
func edPoint(b []byte) (ed25519.PublicKey, bool) {
	if len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(append([]byte(nil), b...)), true
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(b, &inner); err == nil && len(rest) == 0 && len(inner) == ed25519.PublicKeySize {
		return ed25519.PublicKey(inner), true
	}
	return nil, false
}

// parseEd is NewKey for CKK_EC_EDWARDS: CKA_EC_PARAMS, then CKA_EC_POINT (public) or CKA_VALUE,
// the 32-byte private key of RFC 8032 (private).
func (m *material) parseEd(obj attr.Set) error {
	params, ok := obj[p11.CKA_EC_PARAMS]
	if !ok {
		return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "Edwards key has no CKA_EC_PARAMS")
	}
	if err := edParams(params); err != nil {
		return err
	}
	if m.class == p11.CKO_PUBLIC_KEY {
		pt, ok := obj[p11.CKA_EC_POINT]
		if !ok {
			return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "Edwards public key has no CKA_EC_POINT")
		}
		pub, ok := edPoint(pt)
		if !ok {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT is not a 32-byte Ed25519 public key")
		}
		m.edPub = pub
		return nil
	}
	v, ok := obj[p11.CKA_VALUE]
	if !ok {
		return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "Edwards private key has no CKA_VALUE")
	}
	if len(v) != ed25519.SeedSize {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "an Ed25519 private key is %d bytes, not %d", ed25519.SeedSize, len(v))
	}
	m.edPriv = ed25519.NewKeyFromSeed(v)
	m.edPub = m.edPriv.Public().(ed25519.PublicKey)
	return nil
}

// edGenerate gives both halves the CKA_EC_PARAMS in the form the template gave it.
func edGenerate(_ ckm.Mechanism, pub, priv attr.Set) (attr.Set, attr.Set, error) {
	params, err := pairParams(pub, priv)
	if err != nil {
		return nil, nil, err
	}
	if err := edParams(params); err != nil {
		return nil, nil, err
	}
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "Ed25519 key generation: %v", err)
	}
	return attr.Set{p11.CKA_EC_POINT: derOctetString(pk), p11.CKA_EC_PARAMS: append([]byte(nil), params...)},
		attr.Set{p11.CKA_VALUE: sk.Seed(), p11.CKA_EC_PARAMS: append([]byte(nil), params...)}, nil
}

// edCheck: a key of type CKK_EC_EDWARDS, private to sign, and no parameter (Ed25519ctx and
// Ed25519ph are not offered).
func edCheck(usage uint32, m ckm.Mechanism, k *material) error {
	if private(usage) {
		if _, err := k.edPrivate(); err != nil {
			return err
		}
	} else if _, err := k.edPublic(); err != nil {
		return err
	}
	return edNoParam(m)
}

func edNoParam(m ckm.Mechanism) error {
	if p, ok := ivParam(m); m.Param != nil && (!ok || len(p) > 0) {
		return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKM_EDDSA takes no parameter here: only pure Ed25519 is offered")
	}
	return nil
}

// edSign answers the 64-byte signature R || S of RFC 8032 §5.1.6.
func edSign(m ckm.Mechanism, k *material, data []byte) ([]byte, error) {
	if err := edCheck(p11.CKA_SIGN, m, k); err != nil {
		return nil, err
	}
	return ed25519.Sign(k.edPriv, data), nil
}

func edVerify(m ckm.Mechanism, k *material, data, sig []byte) error {
	if err := edCheck(p11.CKA_VERIFY, m, k); err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize {
		return errSigLen
	}
	if !ed25519.Verify(k.edPub, data, sig) {
		return errSigInvalid
	}
	return nil
}

func (m *material) edPrivate() (ed25519.PrivateKey, error) {
	if m.edPriv == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an Ed25519 private key")
	}
	return m.edPriv, nil
}

// edPublic accepts a public key or the public half of a private one, as rsaPublic does.
func (m *material) edPublic() (ed25519.PublicKey, error) {
	if m.edPub == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an Ed25519 key")
	}
	return m.edPub, nil
}

// edFromPKCS8 is the unwrap of an Ed25519 private key: RFC 8410's PKCS#8 form, as Wrap writes
// it. The object gets the template's CKA_EC_PARAMS if it names edwards25519, else the OID form.
func edFromPKCS8(b []byte, tmpl attr.Set) (attr.Set, error) {
	key, err := x509.ParsePKCS8PrivateKey(b)
	sk, ok := key.(ed25519.PrivateKey)
	if err != nil || !ok {
		return nil, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "wrapped key is not an Ed25519 private key")
	}
	params := ed25519OID
	if want, given := tmpl[p11.CKA_EC_PARAMS]; given {
		if err := edParams(want); err != nil {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_EC_PARAMS differs from the wrapped key's curve")
		}
		params = want
	}
	return attr.Set{p11.CKA_VALUE: sk.Seed(), p11.CKA_EC_PARAMS: append([]byte(nil), params...)}, nil
}
