package mech

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"math/big"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// AES block modes and the secret-key generators. Mechanisms without a parameter ignore one if
// given (as SoftHSM does); a parameter of the wrong kind for a mechanism that takes one is
// CKR_MECHANISM_PARAM_INVALID.

const gcmHSMIVLen = 12 // the IV length CloudHSM generates

var errGCMDecryptIV = p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM decrypt needs the IV")

func init() {
	register(p11.CKM_AES_KEY_GEN, &entry{minKey: 16, maxKey: 32,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)},
		genKey:  secretGen(p11.CKK_AES, func(n uint64) bool { return validAESLen(int(n)) })})
	register(p11.CKM_GENERIC_SECRET_KEY_GEN, &entry{minKey: genericMinLen, maxKey: genericMaxLen,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)},
		genKey:  secretGen(p11.CKK_GENERIC_SECRET, func(n uint64) bool { return n >= genericMinLen && n <= genericMaxLen })})

	aesKey := (*material).aes
	cbcCheck := aesCheck(func(m ckm.Mechanism) error { _, err := cbcIV(m, 16); return err })
	register(p11.CKM_AES_ECB, blockWraps(&entry{minKey: 16, maxKey: 32, encrypt: ecbEncrypt(aesKey), decrypt: ecbDecrypt(aesKey), check: aesCheck(nil)}, 16))
	register(p11.CKM_AES_CBC, blockWraps(&entry{minKey: 16, maxKey: 32, encrypt: cbcEncrypt(aesKey, false), decrypt: cbcDecrypt(aesKey, false), check: cbcCheck}, 16))
	register(p11.CKM_AES_CBC_PAD, blockWraps(&entry{minKey: 16, maxKey: 32, encrypt: cbcEncrypt(aesKey, true), decrypt: cbcDecrypt(aesKey, true), check: cbcCheck}, 0))
	register(p11.CKM_AES_CTR, &entry{minKey: 16, maxKey: 32, encrypt: ctrEncrypt, decrypt: ctrDecrypt,
		check: aesCheck(func(m ckm.Mechanism) error { _, err := ctrParam(m); return err })})
	register(p11.CKM_AES_GCM, &entry{minKey: 16, maxKey: 32, encrypt: gcmEncrypt, decrypt: gcmDecrypt,
		wrap: gcmWrap, unwrap: gcmDecrypt, check: gcmCheck})
}

// secretGen makes CKA_VALUE_LEN random bytes. The length is required (CKR_TEMPLATE_INCOMPLETE)
// and must be one the key type allows (CKR_KEY_SIZE_RANGE).
func secretGen(kt uint64, valid func(uint64) bool) func(ckm.Mechanism, attr.Set) (attr.Set, error) {
	return func(_ ckm.Mechanism, tmpl attr.Set) (attr.Set, error) {
		if t, ok := tmpl.Ulong(p11.CKA_KEY_TYPE); ok && t != kt {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE %d does not fit the mechanism", t)
		}
		n, ok := tmpl.Ulong(p11.CKA_VALUE_LEN)
		if !ok {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN missing")
		}
		if !valid(n) {
			return nil, p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "CKA_VALUE_LEN %d out of range", n)
		}
		v := make([]byte, n)
		rand.Read(v)
		return attr.Set{p11.CKA_VALUE: v, p11.CKA_VALUE_LEN: attr.Ulong(n)}, nil
	}
}

// ivParam reads the IV parameter (IV or a plain []byte).
func ivParam(m ckm.Mechanism) ([]byte, bool) {
	switch p := m.Param.(type) {
	case ckm.IV:
		return p, true
	case []byte:
		return p, true
	}
	return nil, false
}

// blockKey answers the block cipher of a key for a mode of operation ((*material).aes or
// (*material).des3), or the code for a key of the wrong type or size.
type blockKey func(*material) (cipher.Block, error)

func ecbEncrypt(key blockKey) func(ckm.Mechanism, *material, []byte) ([]byte, ckm.Mechanism, error) {
	return func(m ckm.Mechanism, k *material, in []byte) ([]byte, ckm.Mechanism, error) {
		out, err := ecb(key, k, in, true)
		return out, m, err
	}
}

func ecbDecrypt(key blockKey) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(_ ckm.Mechanism, k *material, in []byte) ([]byte, error) { return ecb(key, k, in, false) }
}

func ecb(key blockKey, k *material, in []byte, enc bool) ([]byte, error) {
	b, err := key(k)
	if err != nil {
		return nil, err
	}
	n := b.BlockSize()
	if len(in)%n != 0 {
		return nil, lenErr(enc)
	}
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += n {
		if enc {
			b.Encrypt(out[i:i+n], in[i:i+n])
		} else {
			b.Decrypt(out[i:i+n], in[i:i+n])
		}
	}
	return out, nil
}

// lenErr is the input-length code of an encrypt (CKR_DATA_LEN_RANGE) or decrypt
// (CKR_ENCRYPTED_DATA_LEN_RANGE).
func lenErr(enc bool) error {
	if enc {
		return errDataLen
	}
	return errEncLen
}

// cbcIV reads a CBC IV of one block (n bytes).
func cbcIV(m ckm.Mechanism, n int) ([]byte, error) {
	iv, ok := ivParam(m)
	if !ok || len(iv) != n {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CBC needs a %d-byte IV", n)
	}
	return iv, nil
}

func cbcEncrypt(key blockKey, padded bool) func(ckm.Mechanism, *material, []byte) ([]byte, ckm.Mechanism, error) {
	return func(m ckm.Mechanism, k *material, in []byte) ([]byte, ckm.Mechanism, error) {
		b, err := key(k)
		if err != nil {
			return nil, m, err
		}
		n := b.BlockSize()
		iv, err := cbcIV(m, n)
		if err != nil {
			return nil, m, err
		}
		var out []byte
		if padded {
			out = pad(in, n)
		} else {
			if len(in)%n != 0 {
				return nil, m, errDataLen
			}
			out = append([]byte(nil), in...)
		}
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, out)
		return out, m, nil
	}
}

func cbcDecrypt(key blockKey, pad bool) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(m ckm.Mechanism, k *material, in []byte) ([]byte, error) {
		b, err := key(k)
		if err != nil {
			return nil, err
		}
		n := b.BlockSize()
		iv, err := cbcIV(m, n)
		if err != nil {
			return nil, err
		}
		if len(in)%n != 0 || (pad && len(in) == 0) {
			return nil, errEncLen
		}
		out := make([]byte, len(in))
		cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, in)
		if !pad {
			return out, nil
		}
		l, ok := padLen(out, n)
		if !ok {
			return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "bad CBC padding")
		}
		return out[:l], nil
	}
}

// pkcs7Len returns the unpadded length of a PKCS#7-padded buffer of 16-byte blocks.
func pkcs7Len(b []byte) (int, bool) { return padLen(b, 16) }

// padLen returns the unpadded length of a buffer padded as PKCS #5/#7 pad to block bytes (1 to
// block bytes, each holding the count), checking the padding in constant time with respect to
// its contents.
func padLen(b []byte, block int) (int, bool) {
	n := int(b[len(b)-1])
	good := subtle.ConstantTimeLessOrEq(1, n) & subtle.ConstantTimeLessOrEq(n, block)
	for i := 1; i <= block; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, n)
		match := subtle.ConstantTimeByteEq(b[len(b)-i], byte(n))
		good &= match | (inPad ^ 1)
	}
	return len(b) - n, good == 1
}

// pad appends PKCS #5/#7 padding to a copy of in: 1 to block bytes, each holding the count.
func pad(in []byte, block int) []byte {
	n := block - len(in)%block
	out := make([]byte, len(in)+n)
	copy(out, in)
	for i := len(in); i < len(out); i++ {
		out[i] = byte(n)
	}
	return out
}

func ctrParam(m ckm.Mechanism) (*ckm.CTRParams, error) {
	p, ok := m.Param.(*ckm.CTRParams)
	if !ok || p == nil || len(p.CB) != 16 || p.CounterBits < 1 || p.CounterBits > 128 {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CTR needs a 16-byte counter block and 1-128 counter bits")
	}
	return p, nil
}

func ctrEncrypt(m ckm.Mechanism, k *material, in []byte) ([]byte, ckm.Mechanism, error) {
	out, err := ctr(m, k, in, true)
	return out, m, err
}

func ctrDecrypt(m ckm.Mechanism, k *material, in []byte) ([]byte, error) { return ctr(m, k, in, false) }

// ctr runs AES-CTR. The counter is the low CounterBits bits of the block; input that would make
// it wrap is refused (a length error), so that within range the whole-block increment of Go's
// CTR is the same as the PKCS#11 one.
func ctr(m ckm.Mechanism, k *material, in []byte, enc bool) ([]byte, error) {
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	p, err := ctrParam(m)
	if err != nil {
		return nil, err
	}
	if p.CounterBits < 128 {
		limit := new(big.Int).Lsh(big.NewInt(1), uint(p.CounterBits))
		c := new(big.Int).SetBytes(p.CB)
		c.Mod(c, limit)
		c.Add(c, big.NewInt(int64((len(in)+15)/16)))
		if c.Cmp(limit) > 0 {
			return nil, p11.Errorf(p11.Code(lenErr(enc)), "CTR counter of %d bits would wrap", p.CounterBits)
		}
	}
	out := make([]byte, len(in))
	cipher.NewCTR(b, p.CB).XORKeyStream(out, in)
	return out, nil
}

// gcmParam checks the key is AES, then CK_GCM_PARAMS: IV of 0 (encrypt only: the HSM makes one)
// to 128 bytes, tag of 96–128 bits in whole bytes. It returns the parameter and the tag length.
func gcmParam(m ckm.Mechanism, k *material) (*ckm.GCMParams, int, error) {
	if _, err := k.aes(); err != nil {
		return nil, 0, err
	}
	p, ok := m.Param.(*ckm.GCMParams)
	if !ok || p == nil {
		return nil, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM needs CK_GCM_PARAMS")
	}
	if p.TagBits < 96 || p.TagBits > 128 || p.TagBits%8 != 0 {
		return nil, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM tag of %d bits", p.TagBits)
	}
	if len(p.IV) > 128 {
		return nil, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM IV of %d bytes", len(p.IV))
	}
	return p, int(p.TagBits / 8), nil
}

// aead returns a GCM for the IV and tag lengths. Go offers a non-standard IV length or a short
// tag but not both at once; for that case it answers a 16-byte-tag GCM and trunc = true, and the
// caller cuts the tag (a GCM tag of t bytes is the first t bytes of the full one).
func (k *material) aead(ivLen, tagLen int) (a cipher.AEAD, trunc bool, err error) {
	switch {
	case ivLen == 12 && tagLen == 16:
		return k.gcm, false, nil
	case ivLen == 12:
		a, err = cipher.NewGCMWithTagSize(k.block, tagLen)
	default:
		a, err = cipher.NewGCMWithNonceSize(k.block, ivLen)
		trunc = tagLen != 16
	}
	if err != nil {
		return nil, false, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM: %v", err)
	}
	return a, trunc, nil
}

// gcmEncrypt answers ciphertext||tag. An empty IV asks the HSM for one: 12 random bytes, given
// back in used (the caller's parameter is not changed).
func gcmEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	p, tagLen, err := gcmParam(m, k)
	if err != nil {
		return nil, m, err
	}
	used := m
	if len(p.IV) == 0 {
		np := *p
		np.IV = make([]byte, gcmHSMIVLen)
		rand.Read(np.IV)
		p, used = &np, ckm.Mechanism{Type: m.Type, Param: &np}
	}
	out, err := gcmSeal(k, p, tagLen, plain)
	return out, used, err
}

func gcmSeal(k *material, p *ckm.GCMParams, tagLen int, plain []byte) ([]byte, error) {
	a, trunc, err := k.aead(len(p.IV), tagLen)
	if err != nil {
		return nil, err
	}
	out := a.Seal(make([]byte, 0, len(plain)+16), p.IV, plain, p.AAD)
	if trunc {
		out = out[:len(plain)+tagLen]
	}
	return out, nil
}

func gcmDecrypt(m ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	p, tagLen, err := gcmParam(m, k)
	if err != nil {
		return nil, err
	}
	if len(p.IV) == 0 {
		return nil, errGCMDecryptIV
	}
	if len(ct) < tagLen {
		return nil, errEncLen
	}
	a, trunc, err := k.aead(len(p.IV), tagLen)
	if err != nil {
		return nil, err
	}
	if !trunc {
		out, err := a.Open(nil, p.IV, ct, p.AAD)
		if err != nil {
			return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "GCM tag mismatch")
		}
		return out, nil
	}
	// Short tag and non-12-byte IV: recover the plaintext from the keystream (the encryption
	// of zeros), re-seal it and compare the tag prefix.
	body, tag := ct[:len(ct)-tagLen], ct[len(ct)-tagLen:]
	ks := a.Seal(nil, p.IV, make([]byte, len(body)), nil)
	plain := make([]byte, len(body))
	subtle.XORBytes(plain, body, ks[:len(body)])
	full := a.Seal(nil, p.IV, plain, p.AAD)
	if subtle.ConstantTimeCompare(full[len(body):len(body)+tagLen], tag) != 1 {
		clear(plain)
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "GCM tag mismatch")
	}
	return plain, nil
}

// gcmWrap is AES-GCM over the key bytes. Wrap has no result parameter, so an empty IV is filled
// in the caller's *GCMParams (as C_WrapKey writes pIV back in CloudHSM): the only way to hand the
// HSM-generated IV back through this API.
func gcmWrap(m ckm.Mechanism, k *material, plain []byte) ([]byte, error) {
	p, tagLen, err := gcmParam(m, k)
	if err != nil {
		return nil, err
	}
	if len(p.IV) == 0 {
		iv := make([]byte, gcmHSMIVLen)
		rand.Read(iv)
		p.IV = iv
	}
	return gcmSeal(k, p, tagLen, plain)
}
