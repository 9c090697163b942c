package mech

import (
	"crypto"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Digests, HMACs and AES-CMAC: the mechanisms built on a hash or on a MAC of a secret key.

// mechHash maps a digest mechanism (also the hashAlg of PSS and OAEP parameters) to its hash.
var mechHash = map[uint32]crypto.Hash{
	p11.CKM_SHA_1: crypto.SHA1, p11.CKM_SHA224: crypto.SHA224, p11.CKM_SHA256: crypto.SHA256,
	p11.CKM_SHA384: crypto.SHA384, p11.CKM_SHA512: crypto.SHA512,
}

// mgfHash maps a CKG_MGF1_* value to its hash.
var mgfHash = map[uint32]crypto.Hash{
	p11.CKG_MGF1_SHA1: crypto.SHA1, p11.CKG_MGF1_SHA224: crypto.SHA224, p11.CKG_MGF1_SHA256: crypto.SHA256,
	p11.CKG_MGF1_SHA384: crypto.SHA384, p11.CKG_MGF1_SHA512: crypto.SHA512,
}

// hmacHash maps an HMAC mechanism (also the PRF of CloudHSM's SP 800-108 KDF) to its hash.
var hmacHash = map[uint32]crypto.Hash{
	p11.CKM_SHA_1_HMAC: crypto.SHA1, p11.CKM_SHA224_HMAC: crypto.SHA224, p11.CKM_SHA256_HMAC: crypto.SHA256,
	p11.CKM_SHA384_HMAC: crypto.SHA384, p11.CKM_SHA512_HMAC: crypto.SHA512,
}

// hashOf hashes data with the one-shot functions (no hasher allocation).
func hashOf(h crypto.Hash, data []byte) []byte {
	switch h {
	case crypto.SHA1:
		s := sha1.Sum(data)
		return s[:]
	case crypto.SHA224:
		s := sha256.Sum224(data)
		return s[:]
	case crypto.SHA256:
		s := sha256.Sum256(data)
		return s[:]
	case crypto.SHA384:
		s := sha512.Sum384(data)
		return s[:]
	case crypto.SHA512:
		s := sha512.Sum512(data)
		return s[:]
	}
	panic("mech: hash not in table")
}

func init() {
	for m, h := range mechHash {
		register(m, &entry{digest: func(_ ckm.Mechanism, data []byte) ([]byte, error) { return hashOf(h, data), nil }})
	}
	// HMAC key sizes are those of the keys it accepts: generic secrets of 1–800 bytes (AES keys
	// fall inside that range).
	for m, h := range hmacHash {
		register(m, &entry{minKey: genericMinLen, maxKey: genericMaxLen, sign: hmacSign(h), verify: hmacVerify(h), check: macCheck})
	}
	register(p11.CKM_AES_CMAC, &entry{minKey: 16, maxKey: 32, sign: cmacSign, verify: cmacVerify, check: aesCheck(nil)})
}

func hmacSign(h crypto.Hash) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(_ ckm.Mechanism, k *material, data []byte) ([]byte, error) {
		key, err := k.macKey()
		if err != nil {
			return nil, err
		}
		mac := hmac.New(h.New, key)
		mac.Write(data)
		return mac.Sum(nil), nil
	}
}

func hmacVerify(h crypto.Hash) func(ckm.Mechanism, *material, []byte, []byte) error {
	sign := hmacSign(h)
	return func(m ckm.Mechanism, k *material, data, sig []byte) error {
		want, err := sign(m, k, data)
		if err != nil {
			return err
		}
		if len(sig) != len(want) {
			return errSigLen
		}
		if !hmac.Equal(sig, want) {
			return errSigInvalid
		}
		return nil
	}
}

func cmacSign(_ ckm.Mechanism, k *material, data []byte) ([]byte, error) {
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	t := cmac(b, data)
	return t[:], nil
}

func cmacVerify(m ckm.Mechanism, k *material, data, sig []byte) error {
	want, err := cmacSign(m, k, data)
	if err != nil {
		return err
	}
	if len(sig) != len(want) {
		return errSigLen
	}
	if subtle.ConstantTimeCompare(sig, want) != 1 {
		return errSigInvalid
	}
	return nil
}

// cmac is CMAC (NIST SP 800-38B) over a 128-bit block cipher, with the full 16-byte tag.
func cmac(b cipher.Block, msg []byte) [16]byte {
	var k1, k2, x [16]byte
	b.Encrypt(k1[:], k1[:]) // L = CIPH_K(0^128)
	k1 = cmacDouble(k1)
	k2 = cmacDouble(k1)

	n := (len(msg) + 15) / 16
	complete := n > 0 && len(msg)%16 == 0
	if n == 0 {
		n = 1
	}
	for i := 0; i < n-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[16*i:16*i+16])
		b.Encrypt(x[:], x[:])
	}
	var last [16]byte
	rest := msg[16*(n-1):]
	copy(last[:], rest)
	if complete {
		subtle.XORBytes(last[:], last[:], k1[:])
	} else {
		last[len(rest)] = 0x80
		subtle.XORBytes(last[:], last[:], k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	b.Encrypt(x[:], x[:])
	return x
}

// cmacDouble multiplies by x in GF(2^128) (the subkey step of SP 800-38B §6.1).
func cmacDouble(in [16]byte) [16]byte {
	var out [16]byte
	carry := in[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15]<<1 ^ 0x87*carry
	return out
}
