package mech

import (
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/internal/keywrap"
)

// Key wrapping: the AES key wraps (RFC 3394 and RFC 5649, whose arithmetic is package
// internal/keywrap), the generic Wrap and Unwrap steps (key → bytes → blob and back), and the
// PKCS#8 form of private keys.
//
// CKM_AES_KEY_WRAP_PAD is the only padded AES wrap in the v2.40 header this module builds
// against; as in SoftHSM it is RFC 5649 (KWP). PKCS#11 v3.0 later defined 0x210A as RFC 3394
// over PKCS#7 padding and added CKM_AES_KEY_WRAP_KWP (0x210B) for RFC 5649; revisit if the
// header moves to v3.

func init() {
	register(p11.CKM_AES_KEY_WRAP, &entry{minKey: 16, maxKey: 32,
		encrypt: kwEncrypt, decrypt: kwDecrypt, wrap: wrapWith(kwEncrypt), unwrap: kwDecrypt,
		check: aesCheck(func(m ckm.Mechanism) error { _, err := kwIV(m, 8); return err })})
	register(p11.CKM_AES_KEY_WRAP_PAD, &entry{minKey: 16, maxKey: 32,
		encrypt: kwpEncrypt, decrypt: kwpDecrypt, wrap: wrapWith(kwpEncrypt), unwrap: kwpDecrypt,
		check: aesCheck(func(m ckm.Mechanism) error { _, err := kwIV(m, 4); return err })})
}

// kwIV reads the optional IV parameter of an AES key wrap: absent or empty for the default, or
// exactly n bytes.
func kwIV(m ckm.Mechanism, n int) ([]byte, error) {
	if m.Param == nil {
		return nil, nil
	}
	iv, ok := ivParam(m)
	if !ok || (len(iv) != 0 && len(iv) != n) {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "AES key wrap IV must be %d bytes", n)
	}
	if len(iv) == 0 {
		return nil, nil
	}
	return iv, nil
}

func kwEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	b, err := k.aes()
	if err != nil {
		return nil, m, err
	}
	iv, err := kwIV(m, 8)
	if err != nil {
		return nil, m, err
	}
	if len(plain) < 16 || len(plain)%8 != 0 {
		return nil, m, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "AES key wrap input of %d bytes (a multiple of 8, at least 16)", len(plain))
	}
	a := keywrap.DefaultIV
	if iv != nil {
		copy(a[:], iv)
	}
	return keywrap.Wrap(b, a, plain), m, nil
}

func kwDecrypt(m ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	iv, err := kwIV(m, 8)
	if err != nil {
		return nil, err
	}
	if len(ct) < 24 || len(ct)%8 != 0 {
		return nil, errEncLen
	}
	want := keywrap.DefaultIV
	if iv != nil {
		copy(want[:], iv)
	}
	a, p := keywrap.Unwrap(b, ct)
	if subtle.ConstantTimeCompare(a[:], want[:]) != 1 {
		clear(p)
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "AES key wrap integrity check failed")
	}
	return p, nil
}

func kwpEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	b, err := k.aes()
	if err != nil {
		return nil, m, err
	}
	iv, err := kwIV(m, 4)
	if err != nil {
		return nil, m, err
	}
	if len(plain) == 0 || uint64(len(plain)) > 1<<32-1 {
		return nil, m, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "AES key wrap with padding of %d bytes", len(plain))
	}
	prefix := keywrap.DefaultPadIV
	if iv != nil {
		copy(prefix[:], iv)
	}
	return keywrap.WrapPad(b, prefix, plain), m, nil
}

func kwpDecrypt(m ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	iv, err := kwIV(m, 4)
	if err != nil {
		return nil, err
	}
	if len(ct) < 16 || len(ct)%8 != 0 {
		return nil, errEncLen
	}
	prefix := keywrap.DefaultPadIV
	if iv != nil {
		copy(prefix[:], iv)
	}
	p, ok := keywrap.UnwrapPad(b, prefix, ct)
	if !ok {
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "AES key wrap with padding integrity check failed")
	}
	return p, nil
}

// Code translations at the wrap boundary: C_WrapKey names its key's problems
// CKR_WRAPPING_KEY_* and the target's size CKR_KEY_SIZE_RANGE; C_UnwrapKey names its key's
// CKR_UNWRAPPING_KEY_* and the blob's CKR_WRAPPED_KEY_*.
var (
	wrapCodes = map[uint32]uint32{
		p11.CKR_KEY_TYPE_INCONSISTENT: p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT,
		p11.CKR_KEY_SIZE_RANGE:        p11.CKR_WRAPPING_KEY_SIZE_RANGE,
		p11.CKR_KEY_HANDLE_INVALID:    p11.CKR_WRAPPING_KEY_HANDLE_INVALID,
		p11.CKR_DATA_LEN_RANGE:        p11.CKR_KEY_SIZE_RANGE,
	}
	unwrapCodes = map[uint32]uint32{
		p11.CKR_KEY_TYPE_INCONSISTENT:    p11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT,
		p11.CKR_KEY_SIZE_RANGE:           p11.CKR_UNWRAPPING_KEY_SIZE_RANGE,
		p11.CKR_KEY_HANDLE_INVALID:       p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID,
		p11.CKR_ENCRYPTED_DATA_LEN_RANGE: p11.CKR_WRAPPED_KEY_LEN_RANGE,
		p11.CKR_ENCRYPTED_DATA_INVALID:   p11.CKR_WRAPPED_KEY_INVALID,
	}
)

func wrapKey(m ckm.Mechanism, wrapping *Key, target attr.Set) ([]byte, error) {
	e, err := lookup(m.Type)
	if err != nil {
		return nil, err
	}
	if e.wrap == nil {
		return nil, errMechanismInvalid
	}
	km, err := wrapping.mat()
	if err != nil {
		return nil, remap(err, wrapCodes)
	}
	plain, private, err := targetBytes(target)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if private && e.secretOnly {
		return nil, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "%s wraps secret keys only", p11.MechName(m.Type))
	}
	if e.zeroPad > 0 && len(plain)%e.zeroPad != 0 {
		if kt, _ := target.Ulong(p11.CKA_KEY_TYPE); !isDESType(kt) {
			return nil, p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "%s wraps a key of this type only in whole %d-byte blocks: the unwrap could not cut zero padding back", p11.MechName(m.Type), e.zeroPad)
		}
		padded := make([]byte, (len(plain)/e.zeroPad+1)*e.zeroPad)
		copy(padded, plain)
		clear(plain)
		plain = padded
		defer clear(plain)
	}
	out, err := e.wrap(m, km, plain)
	return out, remap(err, wrapCodes)
}

func unwrapKey(m ckm.Mechanism, unwrapping *Key, wrapped []byte, tmpl attr.Set) (attr.Set, error) {
	e, err := lookup(m.Type)
	if err != nil {
		return nil, err
	}
	if e.unwrap == nil {
		return nil, errMechanismInvalid
	}
	km, err := unwrapping.mat()
	if err != nil {
		return nil, remap(err, unwrapCodes)
	}
	plain, err := e.unwrap(m, km, wrapped)
	if err != nil {
		return nil, remap(err, unwrapCodes)
	}
	defer clear(plain)
	if e.zeroPad > 0 {
		plain = zeroPadCut(plain, tmpl)
	}
	return materialFromBytes(plain, tmpl)
}

// blockWraps gives a block mode of encryption the C_WrapKey and C_UnwrapKey functions the
// Current Mechanisms v2.40 tables give it ("Mechanisms vs. Functions": AES-ECB, AES-CBC,
// AES-CBC-PAD, DES3-ECB, DES3-CBC, DES3-CBC-PAD; Historical Mechanisms, "General block
// cipher", for DES-ECB, DES-CBC, DES-CBC-PAD): the key's bytes are encrypted
// under the mode. The unpadded modes (block > 0) wrap secret keys only, "padded on the trailing
// end with up to block size minus one null bytes" ("AES-ECB", "AES-CBC"), and on unwrap the
// result is cut to the template's key type and CKA_VALUE_LEN (zeroPadCut). Only a DES or DES3
// key gets that padding (8 or 24 bytes under a 16-byte AES block): its type fixes its length. The
// attribute table refuses CKA_VALUE_LEN in an unwrap template for AES and generic secrets (their
// footnote 6), so the unwrap could not tell their padding from their value, and a key of such a
// type that is not whole blocks is CKR_KEY_SIZE_RANGE rather than a blob that unwraps into a
// different key (an AES-192 key would come back as an AES-256 one). The padded modes
// (block 0) also wrap private keys, as PKCS#8 ("AES-CBC with PKCS padding": "can wrap and unwrap any secret key,
// RSA private key, ... EC private key").
func blockWraps(e *entry, block int) *entry {
	e.wrap, e.unwrap = wrapWith(e.encrypt), e.decrypt
	e.zeroPad, e.secretOnly = block, block > 0
	return e
}

// zeroPadCut is the unwrap half of the unpadded block modes: "truncates the result according to
// the CKA_KEY_TYPE attribute of the template and, if it has one, and the key type supports it,
// the CKA_VALUE_LEN attribute" (v2.40 "AES-ECB"). A DES key is 8 bytes, a DES3 key 24; another key type keeps
// the whole decryption unless CKA_VALUE_LEN asks for less.
func zeroPadCut(b []byte, tmpl attr.Set) []byte {
	n := len(b)
	kt, _ := tmpl.Ulong(p11.CKA_KEY_TYPE)
	if fixed, ok := desKeyLen(kt); ok {
		n = fixed
	} else if vl, ok := tmpl.Ulong(p11.CKA_VALUE_LEN); ok {
		n = int(min(vl, uint64(n)))
	}
	return b[:min(n, len(b))]
}

// targetBytes is what gets wrapped: a secret key's CKA_VALUE, or a private key as PKCS#8 DER.
func targetBytes(t attr.Set) (b []byte, private bool, err error) {
	class, _ := t.Ulong(p11.CKA_CLASS)
	switch class {
	case p11.CKO_SECRET_KEY:
		v := t[p11.CKA_VALUE]
		if len(v) == 0 {
			return nil, false, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "secret key without CKA_VALUE")
		}
		return append([]byte(nil), v...), false, nil
	case p11.CKO_PRIVATE_KEY:
		k, err := newKey(t)
		if err != nil {
			return nil, true, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "private key: %v", err)
		}
		m := k.impl.(*material)
		var der []byte
		switch {
		case m.rsaPriv != nil:
			der, err = x509.MarshalPKCS8PrivateKey(m.rsaPriv)
		case m.ecPriv != nil:
			der, err = marshalECPKCS8(m.curve, m.ecPriv)
		case m.edPriv != nil:
			der, err = x509.MarshalPKCS8PrivateKey(m.edPriv) // RFC 8410 §7
		}
		if err != nil || der == nil {
			return nil, true, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "private key: PKCS#8: %v", err)
		}
		return der, true, nil
	}
	return nil, false, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "object class %d cannot be wrapped", class)
}

// materialFromBytes turns unwrapped bytes into the material attributes of the object tmpl
// describes. Bytes that cannot be such a key are CKR_WRAPPED_KEY_INVALID; a template that asks
// for something this cannot make is CKR_TEMPLATE_INCONSISTENT.
func materialFromBytes(b []byte, tmpl attr.Set) (attr.Set, error) {
	class, ok := tmpl.Ulong(p11.CKA_CLASS)
	if !ok {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "unwrap template has no CKA_CLASS")
	}
	kt, ok := tmpl.Ulong(p11.CKA_KEY_TYPE)
	if !ok {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "unwrap template has no CKA_KEY_TYPE")
	}
	switch class {
	case p11.CKO_SECRET_KEY:
		if kt == p11.CKK_AES && !validAESLen(len(b)) || isDESType(kt) && !validDESKey(kt, b) || len(b) < genericMinLen || len(b) > genericMaxLen {
			return nil, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "unwrapped %d bytes are no key of type %d", len(b), kt)
		}
		if vl, ok := tmpl.Ulong(p11.CKA_VALUE_LEN); ok && vl != uint64(len(b)) {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_VALUE_LEN %d, unwrapped %d bytes", vl, len(b))
		}
		return attr.Set{p11.CKA_VALUE: append([]byte(nil), b...)}, nil
	case p11.CKO_PRIVATE_KEY:
		if kt == p11.CKK_EC_EDWARDS {
			return edFromPKCS8(b, tmpl)
		}
		if kt != p11.CKK_RSA && kt != p11.CKK_EC {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "cannot unwrap private keys of type %d", kt)
		}
		ec, isEC, err := parseECPKCS8(b)
		switch {
		case err != nil:
			return nil, err
		case isEC && kt == p11.CKK_EC:
			if want, ok := tmpl[p11.CKA_EC_PARAMS]; ok && string(want) != string(ec[p11.CKA_EC_PARAMS]) {
				return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_EC_PARAMS differs from the wrapped key's curve")
			}
			return ec, nil
		case !isEC && kt == p11.CKK_RSA:
			key, err := x509.ParsePKCS8PrivateKey(b)
			if err != nil {
				return nil, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "PKCS#8: %v", err)
			}
			if k, ok := key.(*rsa.PrivateKey); ok && len(k.Primes) == 2 {
				return rsaPrivAttrs(k), nil
			}
		}
		return nil, p11.Errorf(p11.CKR_WRAPPED_KEY_INVALID, "wrapped key is not a private key of type %d", kt)
	}
	return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "cannot unwrap objects of class %d", class)
}
