package mech

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ed25519"
	"crypto/rsa"
	"math/big"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Key-size limits the registry enforces: RSA 1024–4096 bits in 256-bit steps for generation,
// any size in the range usable, so imported keys of e.g. 3000 bits work. PKCS#11 sets no RSA
// minimum; 1024 is the smallest the public suites (OpenSC's p11test, google/pkcs11test) and
// Go's crypto/rsa use. CloudHSM's 2048-bit minimum (AWS "Supported key types for the PKCS #11
// library") is the cloudhsm profile's, enforced by the PKCS#11 module, since a node serves
// clients of both profiles.
const (
	rsaMinBits, rsaMaxBits, rsaStepBits = 1024, 4096, 256
	genericMinLen, genericMaxLen        = 1, 800
)

// material is the parsed form of a key object, built once by NewKey and read-only afterwards,
// so one *Key can serve any number of concurrent operations.
type material struct {
	class, keyType uint64

	// Secret keys.
	value []byte
	block cipher.Block // AES keys of a valid length only
	gcm   cipher.AEAD  // block in GCM with a 12-byte nonce and 16-byte tag (the common case)
	tdes  cipher.Block // DES3 keys of 24 bytes only
	sdes  cipher.Block // DES keys of 8 bytes only

	// RSA: rsaPub is set for public and private keys.
	rsaPriv *rsa.PrivateKey
	rsaPub  *rsa.PublicKey

	// EC: ecPub is set for public and private keys.
	curve  *curve
	ecPriv ecPrivKey
	ecPub  ecPubKey

	// Ed25519 (CKK_EC_EDWARDS): edPub is set for public and private keys.
	edPriv ed25519.PrivateKey
	edPub  ed25519.PublicKey
}

func newKey(obj attr.Set) (*Key, error) {
	class, ok := obj.Ulong(p11.CKA_CLASS)
	if !ok {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "key object has no CKA_CLASS")
	}
	kt, ok := obj.Ulong(p11.CKA_KEY_TYPE)
	if !ok {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "key object has no CKA_KEY_TYPE")
	}
	m := &material{class: class, keyType: kt}
	var err error
	switch {
	case class == p11.CKO_SECRET_KEY:
		err = m.parseSecret(obj)
	case (class == p11.CKO_PRIVATE_KEY || class == p11.CKO_PUBLIC_KEY) && kt == p11.CKK_RSA:
		err = m.parseRSA(obj)
	case (class == p11.CKO_PRIVATE_KEY || class == p11.CKO_PUBLIC_KEY) && kt == p11.CKK_EC:
		err = m.parseEC(obj)
	case (class == p11.CKO_PRIVATE_KEY || class == p11.CKO_PUBLIC_KEY) && kt == p11.CKK_EC_EDWARDS:
		err = m.parseEd(obj)
	default:
		err = p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "class %d key type %d is not a supported key", class, kt)
	}
	if err != nil {
		return nil, err
	}
	return &Key{Attrs: obj, impl: m}, nil
}

// parseSecret keeps the value of any secret key type (a key type no mechanism accepts is
// refused at use, CKR_KEY_TYPE_INCONSISTENT). An AES key of an invalid length is kept without a
// cipher and refused at use with CKR_KEY_SIZE_RANGE.
func (m *material) parseSecret(obj attr.Set) error {
	v, ok := obj[p11.CKA_VALUE]
	if !ok {
		return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "secret key has no CKA_VALUE")
	}
	m.value = append([]byte(nil), v...)
	if m.keyType == p11.CKK_AES && validAESLen(len(v)) {
		b, err := aes.NewCipher(m.value)
		if err != nil {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "AES key: %v", err)
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return p11.Errorf(p11.CKR_GENERAL_ERROR, "AES-GCM: %v", err)
		}
		m.block, m.gcm = b, g
	}
	var err error
	switch {
	case m.keyType == p11.CKK_DES3 && len(v) == des3Len:
		m.tdes, err = des.NewTripleDESCipher(m.value)
	case m.keyType == p11.CKK_DES && len(v) == desLen:
		m.sdes, err = des.NewCipher(m.value)
	}
	if err != nil {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "DES key: %v", err)
	}
	return nil
}

func validAESLen(n int) bool { return n == 16 || n == 24 || n == 32 }

func bigAttr(obj attr.Set, t uint32) (*big.Int, error) {
	b, ok := obj[t]
	if !ok || len(b) == 0 {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "RSA key has no %s", p11.AttrName(t))
	}
	return new(big.Int).SetBytes(b), nil
}

func (m *material) parseRSA(obj attr.Set) error {
	n, err := bigAttr(obj, p11.CKA_MODULUS)
	if err != nil {
		return err
	}
	e, err := bigAttr(obj, p11.CKA_PUBLIC_EXPONENT)
	if err != nil {
		return err
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "RSA public exponent unsupported")
	}
	pub := &rsa.PublicKey{N: n, E: int(e.Int64())}
	m.rsaPub = pub
	if m.class == p11.CKO_PUBLIC_KEY {
		return nil
	}
	var comps [3]*big.Int
	for i, t := range []uint32{p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1, p11.CKA_PRIME_2} {
		if comps[i], err = bigAttr(obj, t); err != nil {
			return err
		}
	}
	priv := &rsa.PrivateKey{PublicKey: *pub, D: comps[0], Primes: []*big.Int{comps[1], comps[2]}}
	if err := priv.Validate(); err != nil {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "RSA private key: %v", err)
	}
	priv.Precompute()
	m.rsaPriv, m.rsaPub = priv, &priv.PublicKey
	return nil
}

func (m *material) parseEC(obj attr.Set) error {
	params, ok := obj[p11.CKA_EC_PARAMS]
	if !ok {
		return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "EC key has no CKA_EC_PARAMS")
	}
	c, err := curveFromParams(params)
	if err != nil {
		return err
	}
	m.curve = c
	if m.class == p11.CKO_PUBLIC_KEY {
		pt, ok := obj[p11.CKA_EC_POINT]
		if !ok {
			return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "EC public key has no CKA_EC_POINT")
		}
		raw, ok := c.rawPoint(pt)
		if !ok {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT is not an uncompressed %s point", c.name)
		}
		pub, err := c.ops.public(raw)
		if err != nil {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_EC_POINT: %v", err)
		}
		m.ecPub = pub
		return nil
	}
	v, ok := obj[p11.CKA_VALUE]
	if !ok {
		return p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "EC private key has no CKA_VALUE")
	}
	scalar, ok := leftPad(v, c.size)
	if !ok {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "EC private value longer than %s order", c.name)
	}
	priv, err := c.ops.private(scalar)
	if err != nil {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "EC private value: %v", err)
	}
	m.ecPriv, m.ecPub = priv, priv.pub()
	return nil
}

// leftPad returns b as exactly n bytes: leading zeros are added or stripped; ok is false when b
// holds a number too large for n bytes.
func leftPad(b []byte, n int) ([]byte, bool) {
	for len(b) > n && b[0] == 0 {
		b = b[1:]
	}
	if len(b) > n {
		return nil, false
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out, true
}

// Accessors used by the mechanisms: each answers the key in the form needed or the code the spec
// names for a key of the wrong type (CKR_KEY_TYPE_INCONSISTENT) or size (CKR_KEY_SIZE_RANGE).

func (k *Key) mat() (*material, error) {
	if k == nil {
		return nil, errKeyHandle
	}
	m, ok := k.impl.(*material)
	if !ok || m == nil {
		return nil, errKeyHandle
	}
	return m, nil
}

func (m *material) aes() (cipher.Block, error) { return m.cipherOf(p11.CKK_AES, "AES", m.block) }

// des3 answers a DES3 key's cipher; a DES3 object whose value is not 24 bytes has none.
func (m *material) des3() (cipher.Block, error) { return m.cipherOf(p11.CKK_DES3, "DES3", m.tdes) }

// des answers a single DES key's cipher; a DES object whose value is not 8 bytes has none.
func (m *material) des() (cipher.Block, error) { return m.cipherOf(p11.CKK_DES, "DES", m.sdes) }

// cipherOf answers b, the block cipher of a secret key of type kt: CKR_KEY_TYPE_INCONSISTENT for
// another key, CKR_KEY_SIZE_RANGE when the key's length gave no cipher.
func (m *material) cipherOf(kt uint64, name string, b cipher.Block) (cipher.Block, error) {
	if m.class != p11.CKO_SECRET_KEY || m.keyType != kt {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs a key of type %s", name)
	}
	if b == nil {
		return nil, p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "%s key of %d bytes", name, len(m.value))
	}
	return b, nil
}

// macKey answers the key of an HMAC: a generic secret or, as CloudHSM allows, an AES key.
func (m *material) macKey() ([]byte, error) {
	if m.class != p11.CKO_SECRET_KEY || (m.keyType != p11.CKK_GENERIC_SECRET && m.keyType != p11.CKK_AES) {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "HMAC needs a generic secret or AES key")
	}
	if len(m.value) < genericMinLen || len(m.value) > genericMaxLen {
		return nil, p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "HMAC key of %d bytes", len(m.value))
	}
	return m.value, nil
}

func checkRSASize(pub *rsa.PublicKey) error {
	if b := pub.N.BitLen(); b < rsaMinBits || b > rsaMaxBits {
		return p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "RSA key of %d bits", b)
	}
	return nil
}

func (m *material) rsaPrivate() (*rsa.PrivateKey, error) {
	if m.rsaPriv == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an RSA private key")
	}
	return m.rsaPriv, checkRSASize(m.rsaPub)
}

// rsaPublic accepts a public key or the public half of a private one (usage flags, checked by
// the caller, decide whether a private key may verify or encrypt).
func (m *material) rsaPublic() (*rsa.PublicKey, error) {
	if m.rsaPub == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an RSA key")
	}
	return m.rsaPub, checkRSASize(m.rsaPub)
}

func (m *material) ecPrivate() (ecPrivKey, error) {
	if m.ecPriv == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an EC private key")
	}
	return m.ecPriv, nil
}

func (m *material) ecPublic() (ecPubKey, error) {
	if m.ecPub == nil {
		return nil, p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "mechanism needs an EC key")
	}
	return m.ecPub, nil
}
