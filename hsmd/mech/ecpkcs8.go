package mech

import (
	"crypto/x509/pkix"
	"encoding/asn1"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// EC private keys travel in wrapped form as PKCS#8 (RFC 5208) holding an RFC 5915
// ECPrivateKey, written here for every curve: crypto/x509 knows no secp256k1. The layout is the
// one x509 writes for the NIST curves (named curve in the algorithm identifier, none inside,
// the public key included), so keys wrapped before and after read the same.

var oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} // RFC 5480 id-ecPublicKey

type pkcs8 struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue `asn1:"optional,tag:0"`
}

type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	Parameters asn1.RawValue  `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
}

// marshalECPKCS8 encodes an EC private key of curve c.
func marshalECPKCS8(c *curve, k ecPrivKey) ([]byte, error) {
	pt := k.pub().point()
	inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: k.scalar(),
		PublicKey: asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(pkcs8{Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey,
		Parameters: asn1.RawValue{FullBytes: c.oid}}, PrivateKey: inner})
}

// parseECPKCS8 reads PKCS#8: isEC is false (and the rest empty) for a well-formed PKCS#8 of
// another algorithm, which the caller hands to crypto/x509. For an EC key it answers the
// PKCS#11 attributes CKA_VALUE and CKA_EC_PARAMS, or CKR_WRAPPED_KEY_INVALID.
func parseECPKCS8(b []byte) (a attr.Set, isEC bool, err error) {
	var p pkcs8
	if rest, err := asn1.Unmarshal(b, &p); err != nil || len(rest) != 0 {
		return nil, false, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "PKCS#8: %v", err)
	}
	if !p.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, false, nil
	}
	c, err := curveFromParams(p.Algorithm.Parameters.FullBytes)
	if err != nil {
		return nil, true, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "wrapped EC key: %v", err)
	}
	var k ecPrivateKey
	if rest, err := asn1.Unmarshal(p.PrivateKey, &k); err != nil || len(rest) != 0 || k.Version != 1 {
		return nil, true, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "ECPrivateKey malformed (%v)", err)
	}
	if len(k.Parameters.FullBytes) != 0 && string(k.Parameters.FullBytes) != string(c.oid) {
		return nil, true, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "ECPrivateKey names another curve")
	}
	d, ok := leftPad(k.PrivateKey, c.size)
	if !ok {
		return nil, true, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "EC private value longer than %s order", c.name)
	}
	if _, err := c.ops.private(d); err != nil {
		return nil, true, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "EC key: %v", err)
	}
	return attr.Set{p11.CKA_VALUE: d, p11.CKA_EC_PARAMS: append([]byte(nil), c.oid...)}, true, nil
}
