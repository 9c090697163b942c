package mech

import (
	"bytes"
	"crypto"
	"encoding/asn1"
	"encoding/binary"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// curveFromParams reads CKA_EC_PARAMS. Only the namedCurve choice (a DER OID) is accepted:
// anything that is not a single DER OBJECT IDENTIFIER is CKR_ATTRIBUTE_VALUE_INVALID, and a
// well-formed OID of a curve hsmsim lacks is CKR_CURVE_NOT_SUPPORTED (a PKCS#11 v3.0 code,
// more useful to a caller than the v2.40 catch-all).
func curveFromParams(params []byte) (*curve, error) {
	for _, c := range curves {
		if bytes.Equal(params, c.oid) {
			return c, nil
		}
	}
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) != 0 {
		return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_PARAMS is not a DER OBJECT IDENTIFIER")
	}
	return nil, p11.Errorf(p11.CKR_CURVE_NOT_SUPPORTED, "curve %v not supported", oid)
}

// rawPoint accepts an uncompressed point either bare (04||X||Y) or as a DER OCTET STRING (the
// CKA_EC_POINT form). The bare form is tried first: its length cannot be that of a DER one.
func (c *curve) rawPoint(b []byte) ([]byte, bool) {
	n := 1 + 2*c.size
	if len(b) == n && b[0] == 4 {
		return b, true
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(b, &inner); err == nil && len(rest) == 0 && len(inner) == n && inner[0] == 4 {
		return inner, true
	}
	return nil, false
}

// derOctetString wraps b as a DER OCTET STRING.
func derOctetString(b []byte) []byte {
	out, _ := asn1.Marshal(b) // cannot fail for a []byte
	return out
}

// The field sizes of the smallest and largest curves (P-224, P-521): CK_MECHANISM_INFO's
// key sizes for EC mechanisms.
const ecMinBits, ecMaxBits = 224, 521

func init() {
	ecFlags := uint64(p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | p11.CKF_EC_UNCOMPRESS)
	register(p11.CKM_EC_KEY_PAIR_GEN, &entry{minKey: ecMinBits, maxKey: ecMaxBits, extraFlags: ecFlags,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC)},
		genPair: ecGenerate})
	for m, h := range map[uint32]crypto.Hash{
		p11.CKM_ECDSA: 0, p11.CKM_ECDSA_SHA1: crypto.SHA1, p11.CKM_ECDSA_SHA224: crypto.SHA224,
		p11.CKM_ECDSA_SHA256: crypto.SHA256, p11.CKM_ECDSA_SHA384: crypto.SHA384, p11.CKM_ECDSA_SHA512: crypto.SHA512,
	} {
		register(m, &entry{minKey: ecMinBits, maxKey: ecMaxBits, extraFlags: ecFlags, sign: ecdsaSign(h), verify: ecdsaVerify(h), check: ecCheck})
	}
	// With cofactor 1 on every supported curve, the cofactor variant computes the same secret.
	register(p11.CKM_ECDH1_DERIVE, &entry{minKey: ecMinBits, maxKey: ecMaxBits, extraFlags: ecFlags, derive: ecdhDerive})
	register(p11.CKM_ECDH1_COFACTOR_DERIVE, &entry{minKey: ecMinBits, maxKey: ecMaxBits, extraFlags: ecFlags, derive: ecdhDerive})
}

// pairParams is the CKA_EC_PARAMS of a key-pair generation: the public template's, as the spec
// says (or, leniently, the private one's).
func pairParams(pub, priv attr.Set) ([]byte, error) {
	params, ok := pub[p11.CKA_EC_PARAMS]
	if !ok {
		params, ok = priv[p11.CKA_EC_PARAMS]
	}
	if !ok {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_EC_PARAMS missing")
	}
	return params, nil
}

func ecGenerate(_ ckm.Mechanism, pub, priv attr.Set) (attr.Set, attr.Set, error) {
	params, err := pairParams(pub, priv)
	if err != nil {
		return nil, nil, err
	}
	c, err := curveFromParams(params)
	if err != nil {
		return nil, nil, err
	}
	d, err := c.ops.generate()
	if err != nil {
		return nil, nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "EC key generation: %v", err)
	}
	k, err := c.ops.private(d)
	if err != nil {
		return nil, nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "EC key generation: %v", err)
	}
	pt := k.pub().point()
	oid := append([]byte(nil), c.oid...)
	return attr.Set{p11.CKA_EC_POINT: derOctetString(pt), p11.CKA_EC_PARAMS: oid},
		attr.Set{p11.CKA_VALUE: d, p11.CKA_EC_PARAMS: append([]byte(nil), oid...)}, nil
}

// ecdsaInput hashes data for the ECDSA_SHA* mechanisms; plain CKM_ECDSA takes a hash the caller
// made, of 1 to 64 bytes (longer than the order is truncated, as ECDSA specifies).
func ecdsaInput(h crypto.Hash, data []byte) ([]byte, error) {
	if h != 0 {
		return hashOf(h, data), nil
	}
	if len(data) == 0 || len(data) > 64 {
		return nil, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "CKM_ECDSA input of %d bytes (want a hash, 1-64)", len(data))
	}
	return data, nil
}

// ecdsaSign answers r||s, each the curve's size, as PKCS#11 defines (not DER).
func ecdsaSign(h crypto.Hash) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(_ ckm.Mechanism, k *material, data []byte) ([]byte, error) {
		priv, err := k.ecPrivate()
		if err != nil {
			return nil, err
		}
		digest, err := ecdsaInput(h, data)
		if err != nil {
			return nil, err
		}
		r, s, err := priv.sign(digest)
		if err != nil {
			return nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "ECDSA: %v", err)
		}
		n := k.curve.size
		out := make([]byte, 2*n)
		copy(out[n-len(r):n], r)
		copy(out[2*n-len(s):], s)
		return out, nil
	}
}

func ecdsaVerify(h crypto.Hash) func(ckm.Mechanism, *material, []byte, []byte) error {
	return func(_ ckm.Mechanism, k *material, data, sig []byte) error {
		pub, err := k.ecPublic()
		if err != nil {
			return err
		}
		digest, err := ecdsaInput(h, data)
		if err != nil {
			return err
		}
		if len(sig) != 2*k.curve.size {
			return errSigLen
		}
		if !pub.verify(digest, sig[:k.curve.size], sig[k.curve.size:]) {
			return errSigInvalid
		}
		return nil
	}
}

var kdfHash = map[uint64]crypto.Hash{
	p11.CKD_SHA1_KDF: crypto.SHA1, p11.CKD_SHA224_KDF: crypto.SHA224, p11.CKD_SHA256_KDF: crypto.SHA256,
	p11.CKD_SHA384_KDF: crypto.SHA384, p11.CKD_SHA512_KDF: crypto.SHA512,
}

// ecdhDerive is CKM_ECDH1_DERIVE. The key length is tmpl's CKA_VALUE_LEN; without it CKD_NULL
// yields the whole shared secret (x coordinate) and a KDF is CKR_TEMPLATE_INCOMPLETE. CKD_NULL
// with a shorter length keeps the trailing bytes of the secret, as SoftHSM does.
func ecdhDerive(m ckm.Mechanism, k *material, tmpl attr.Set) (attr.Set, error) {
	p, ok := m.Param.(*ckm.ECDH1DeriveParams)
	if !ok || p == nil {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "ECDH needs CK_ECDH1_DERIVE_PARAMS")
	}
	if k.ecPriv == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "ECDH needs an EC private key")
	}
	h, isKDF := kdfHash[uint64(p.KDF)]
	switch {
	case p.KDF == p11.CKD_NULL:
		if len(p.SharedData) != 0 {
			return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKD_NULL takes no shared data")
		}
	case !isKDF:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "KDF %d not supported", p.KDF)
	}
	raw, ok := k.curve.rawPoint(p.PublicData)
	if !ok {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "public data is not an uncompressed %s point", k.curve.name)
	}
	z, err := k.ecPriv.sharedX(raw)
	if err != nil {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "ECDH: %v", err)
	}
	defer clear(z)

	kt, hasKT := tmpl.Ulong(p11.CKA_KEY_TYPE)
	n := len(z)
	if vl, has := tmpl.Ulong(p11.CKA_VALUE_LEN); has {
		if vl < genericMinLen || vl > genericMaxLen || (!isKDF && vl > uint64(len(z))) {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN %d out of range", vl)
		}
		n = int(vl)
	} else if isKDF {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN needed with a KDF")
	}
	if hasKT && kt == p11.CKK_AES && !validAESLen(n) {
		if _, has := tmpl[p11.CKA_VALUE_LEN]; !has {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN needed: %d-byte secret is no AES key", n)
		}
		return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN %d is no AES key size", n)
	}
	var v []byte
	if isKDF {
		v = x963KDF(h, z, p.SharedData, n)
	} else {
		v = append([]byte(nil), z[len(z)-n:]...)
	}
	return attr.Set{p11.CKA_VALUE: v}, nil
}

// x963KDF is the ANSI X9.63 KDF (SEC 1 §3.6.1): Hash(Z || counter || SharedInfo) for counter
// 1, 2, ... (32-bit big-endian), concatenated and cut to n bytes.
func x963KDF(h crypto.Hash, z, shared []byte, n int) []byte {
	out := make([]byte, 0, n+h.Size())
	var ctr [4]byte
	for i := uint32(1); len(out) < n; i++ {
		hh := h.New()
		hh.Write(z)
		binary.BigEndian.PutUint32(ctr[:], i)
		hh.Write(ctr[:])
		hh.Write(shared)
		out = hh.Sum(out)
	}
	return out[:n]
}
