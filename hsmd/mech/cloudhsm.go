package mech

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"hash"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/internal/keywrap"
)

// The mechanisms AWS CloudHSM's Client SDK 5 offers beyond the ones the rest of this package
// already had: its vendor-defined mechanisms (numbers in hsmd/ckm) and the standard RSA-AES key
// wrap and X9.31 key-pair generation. The registry knows them in every profile; the PKCS#11
// module offers the vendor ones in profile cloudhsm only.
//
// Sources: AWS CloudHSM User Guide, "Supported mechanisms for the PKCS #11 library for AWS
// CloudHSM Client SDK 5" (its footnote 3 on the vendor mechanisms), "AES key wrapping" (the
// three padding schemes and their IVs), the known issue "AES key wrapping uses PKCS #5
// padding", and AWS's CloudHSM PKCS #11 sample for the SP 800-108 KDF; PKCS#11 v2.40 §2.1.21
// for CKM_RSA_AES_KEY_WRAP.

func init() {
	register(ckm.CKM_CLOUDHSM_AES_GCM, &entry{minKey: 16, maxKey: 32,
		encrypt: cloudGCMEncrypt, decrypt: cloudGCMDecrypt, wrap: wrapWith(cloudGCMEncrypt), unwrap: cloudGCMDecrypt,
		check: func(_ uint32, m ckm.Mechanism, k *material) error { _, _, err := cloudGCMParam(m, k); return err }})
	noPadWrap, noPadUnwrap := guarded(defaultIVOnly, kwEncrypt, kwDecrypt)
	register(ckm.CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD, &entry{minKey: 16, maxKey: 32, wrap: noPadWrap, unwrap: noPadUnwrap})
	register(ckm.CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD, &entry{minKey: 16, maxKey: 32, wrap: pkcs5PadWrap, unwrap: pkcs5PadUnwrap})
	zeroPadWrap, zeroPadUnwrap := guarded(noIV, kwpEncrypt, kwpDecrypt)
	register(ckm.CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD, &entry{minKey: 16, maxKey: 32, wrap: zeroPadWrap, unwrap: zeroPadUnwrap})
	register(ckm.CKM_SP800_108_COUNTER_KDF, &entry{minKey: genericMinLen, maxKey: genericMaxLen, derive: sp800108Derive})
	register(p11.CKM_RSA_AES_KEY_WRAP, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, wrap: rsaAESWrap, unwrap: rsaAESUnwrap})
	// "Functionally identical to CKM_RSA_PKCS_KEY_PAIR_GEN, but offers stronger guarantees for
	// p and q generation" (AWS). Go's generator makes random probable primes of equal size, not
	// X9.31's strong primes: the keys are indistinguishable to every operation.
	register(p11.CKM_RSA_X9_31_KEY_PAIR_GEN, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)},
		genPair: rsaGenerate})
}

// CKM_CLOUDHSM_AES_GCM: the HSM makes a 12-byte IV and prepends it to the ciphertext, which is
// IV || ciphertext || tag; decryption and unwrapping read the IV from the front. The caller's
// CK_GCM_PARAMS must have pIV NULL (an IV of length 0 here); AAD and tag length are its own.

func cloudGCMParam(m ckm.Mechanism, k *material) (*ckm.GCMParams, int, error) {
	p, tagLen, err := gcmParam(m, k)
	if err != nil {
		return nil, 0, err
	}
	if len(p.IV) != 0 {
		return nil, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKM_CLOUDHSM_AES_GCM: pIV must be NULL, the HSM makes the IV")
	}
	return p, tagLen, nil
}

func cloudGCMEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	p, tagLen, err := cloudGCMParam(m, k)
	if err != nil {
		return nil, m, err
	}
	iv := make([]byte, gcmHSMIVLen)
	rand.Read(iv)
	out, err := gcmSeal(k, &ckm.GCMParams{IV: iv, AAD: p.AAD, TagBits: p.TagBits}, tagLen, plain)
	if err != nil {
		return nil, m, err
	}
	return append(iv, out...), m, nil
}

func cloudGCMDecrypt(m ckm.Mechanism, k *material, in []byte) ([]byte, error) {
	p, tagLen, err := cloudGCMParam(m, k)
	if err != nil {
		return nil, err
	}
	if len(in) < gcmHSMIVLen+tagLen {
		return nil, errEncLen
	}
	inner := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: in[:gcmHSMIVLen], AAD: p.AAD, TagBits: p.TagBits}}
	return gcmDecrypt(inner, k, in[gcmHSMIVLen:])
}

// The three AES key wraps of CloudHSM ("AES key wrapping", AWS CloudHSM User Guide):
//
//   - NO_PAD is RFC 3394 over a block-aligned key. The IV is implicit (A6A6A6A6A6A6A6A6) or
//     given explicitly as that same value; no other IV is accepted.
//   - PKCS5_PAD pads the key as PKCS #5 does to 8-byte blocks (1 to 8 bytes, each holding the
//     count, so a block-aligned key gains 8 bytes of 08) and wraps the result with RFC 3394
//     under the default IV, which again may be given explicitly. AWS names no specification for
//     it; it is what CloudHSM's CKM_AES_KEY_WRAP did before SDK 3.1 and what SDK 5 maps it to.
//   - ZERO_PAD is RFC 5649 (SP 800-38F KWP): zeros up to a block, an alternative IV built from
//     A65959A6 and the key's length, one AES block for keys of at most 8 bytes. The IV is
//     computed; an explicit one is refused.

// defaultIVOnly accepts no parameter, an empty one, or the RFC 3394 default IV itself.
func defaultIVOnly(m ckm.Mechanism) error {
	iv, err := kwIV(m, 8)
	if err != nil {
		return err
	}
	if iv != nil && subtle.ConstantTimeCompare(iv, keywrap.DefaultIV[:]) != 1 {
		return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "%s takes only the IV A6A6A6A6A6A6A6A6", p11.MechName(m.Type))
	}
	return nil
}

// noIV refuses any IV: the mechanism computes its own.
func noIV(m ckm.Mechanism) error {
	if iv, ok := ivParam(m); m.Param != nil && (!ok || len(iv) != 0) {
		return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD computes its IV; none may be given")
	}
	return nil
}

// guarded checks the vendor mechanism's IV rule, then runs the standard construction with the
// default IV (wrap: encrypt; unwrap: decrypt).
func guarded(rule func(ckm.Mechanism) error, enc func(ckm.Mechanism, *material, []byte) ([]byte, ckm.Mechanism, error),
	dec func(ckm.Mechanism, *material, []byte) ([]byte, error)) (wrap, unwrap func(ckm.Mechanism, *material, []byte) ([]byte, error)) {
	wrap = func(m ckm.Mechanism, k *material, plain []byte) ([]byte, error) {
		if err := rule(m); err != nil {
			return nil, err
		}
		out, _, err := enc(ckm.Mechanism{}, k, plain)
		return out, err
	}
	unwrap = func(m ckm.Mechanism, k *material, wrapped []byte) ([]byte, error) {
		if err := rule(m); err != nil {
			return nil, err
		}
		return dec(ckm.Mechanism{}, k, wrapped)
	}
	return wrap, unwrap
}

func pkcs5PadWrap(m ckm.Mechanism, k *material, plain []byte) ([]byte, error) {
	if err := defaultIVOnly(m); err != nil {
		return nil, err
	}
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	padded := pad(plain, 8)
	defer clear(padded)
	return keywrap.Wrap(b, keywrap.DefaultIV, padded), nil
}

func pkcs5PadUnwrap(m ckm.Mechanism, k *material, wrapped []byte) ([]byte, error) {
	if err := defaultIVOnly(m); err != nil {
		return nil, err
	}
	b, err := k.aes()
	if err != nil {
		return nil, err
	}
	// A key under 8 bytes pads to one block, which W wraps in its six rounds all the same: a
	// 16-byte blob is valid here though RFC 3394 itself starts at two blocks.
	if len(wrapped) < 16 || len(wrapped)%8 != 0 {
		return nil, errEncLen
	}
	a, p := keywrap.Unwrap(b, wrapped)
	if subtle.ConstantTimeCompare(a[:], keywrap.DefaultIV[:]) != 1 {
		clear(p)
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "AES key wrap integrity check failed")
	}
	n, ok := padLen(p, 8)
	if !ok {
		clear(p)
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "AES key wrap with PKCS #5 padding: bad padding")
	}
	return p[:n], nil
}

// CKM_SP800_108_COUNTER_KDF: NIST SP 800-108 §5.1 (counter mode) with an HMAC as PRF and, as
// AWS's sample for it states, the fixed input Label || 0x00 || Context || [L]:
//
//	K(i) = HMAC(KI, [i]_r || Label || 0x00 || Context || [L]_w),  i = 1, 2, ...
//
// r is 16 or 32 bits and w 8, 16, 32 or 64 (the widths the sample names); L counts the derived
// key in bits (SP800_108_DKM_LENGTH_SUM_OF_KEYS) or every PRF output computed for it
// (SUM_OF_SEGMENTS). The base key is a generic secret or an AES key (the sample derives from an
// AES key); the derived key's length is its template's CKA_VALUE_LEN.

var (
	sp800108CounterBits = map[uint32]bool{16: true, 32: true}
	sp800108DKMBits     = map[uint32]bool{8: true, 16: true, 32: true, 64: true}
)

func sp800108Param(m ckm.Mechanism) (*ckm.SP800108Params, error) {
	p, ok := m.Param.(*ckm.SP800108Params)
	switch {
	case !ok || p == nil:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKM_SP800_108_COUNTER_KDF needs CK_SP800_108_KDF_PARAMS")
	case hmacHash[p.PRF] == 0:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "SP 800-108 PRF %s is not an HMAC", p11.MechName(p.PRF))
	case !sp800108CounterBits[p.CounterBits]:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "SP 800-108 counter of %d bits (16 or 32)", p.CounterBits)
	case !sp800108DKMBits[p.DKMBits]:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "SP 800-108 length field of %d bits (8, 16, 32 or 64)", p.DKMBits)
	case p.DKMMethod != ckm.SP800108DKMSumOfKeys && p.DKMMethod != ckm.SP800108DKMSumOfSegments:
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "SP 800-108 DKM length method %d", p.DKMMethod)
	}
	return p, nil
}

func sp800108Derive(m ckm.Mechanism, k *material, tmpl attr.Set) (attr.Set, error) {
	p, err := sp800108Param(m)
	if err != nil {
		return nil, err
	}
	ki, err := k.macKey()
	if err != nil {
		return nil, err
	}
	n, err := derivedLen(tmpl)
	if err != nil {
		return nil, err
	}
	h := hmacHash[p.PRF]
	blocks := (n + h.Size() - 1) / h.Size()
	lBits := uint64(8 * n)
	if p.DKMMethod == ckm.SP800108DKMSumOfSegments {
		lBits = uint64(8 * blocks * h.Size())
	}
	if p.DKMBits < 64 && lBits >= 1<<p.DKMBits {
		return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "L = %d bits does not fit the %d-bit length field", lBits, p.DKMBits)
	}
	l := binary.BigEndian.AppendUint64(nil, lBits)
	fixed := make([]byte, 0, len(p.Label)+1+len(p.Context)+8)
	fixed = append(append(append(append(fixed, p.Label...), 0), p.Context...), l[8-p.DKMBits/8:]...)
	return attr.Set{p11.CKA_VALUE: kdfCounter(h.New, ki, int(p.CounterBits), fixed, n)}, nil
}

// kdfCounter is SP 800-108 §5.1 with HMAC over hash h as PRF and the counter before the fixed
// input: the first n bytes of HMAC(ki, [i]_r || fixed) for i = 1, 2, .... The counter cannot
// wrap for the lengths the callers allow (at most 800 bytes, so at most 40 SHA-1 blocks).
func kdfCounter(h func() hash.Hash, ki []byte, rBits int, fixed []byte, n int) []byte {
	out := make([]byte, 0, n+64)
	for i := uint64(1); len(out) < n; i++ {
		h := hmac.New(h, ki)
		ctr := binary.BigEndian.AppendUint64(nil, i)
		h.Write(ctr[8-rBits/8:])
		h.Write(fixed)
		out = h.Sum(out)
	}
	return out[:n]
}

// derivedLen is the length a derive template asks for: CKA_VALUE_LEN is required (a KDF has no
// natural length), within the generic-secret range and, for an AES key, an AES length.
func derivedLen(tmpl attr.Set) (int, error) {
	vl, ok := tmpl.Ulong(p11.CKA_VALUE_LEN)
	if !ok {
		return 0, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_VALUE_LEN needed with a KDF")
	}
	if vl < genericMinLen || vl > genericMaxLen {
		return 0, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN %d out of range", vl)
	}
	if kt, _ := tmpl.Ulong(p11.CKA_KEY_TYPE); kt == p11.CKK_AES && !validAESLen(int(vl)) {
		return 0, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_VALUE_LEN %d is no AES key size", vl)
	}
	return int(vl), nil
}

// CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21): a fresh AES key of ulAESKeyBits wraps the
// target with CKM_AES_KEY_WRAP_PAD (RFC 5649) and is itself wrapped with RSA-OAEP; the result
// is the OAEP ciphertext followed by the RFC 5649 one. It wraps private keys (as PKCS#8) as well
// as secret keys.

func rsaAESParam(m ckm.Mechanism) (*ckm.RSAAESKeyWrapParams, ckm.Mechanism, error) {
	p, ok := m.Param.(*ckm.RSAAESKeyWrapParams)
	if !ok || p == nil {
		return nil, m, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "CKM_RSA_AES_KEY_WRAP needs CK_RSA_AES_KEY_WRAP_PARAMS")
	}
	if !validAESLen(int(p.AESKeyBits/8)) || p.AESKeyBits%8 != 0 {
		return nil, m, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "ulAESKeyBits %d (128, 192 or 256)", p.AESKeyBits)
	}
	oaep := ckm.Mechanism{Type: p11.CKM_RSA_PKCS_OAEP, Param: &p.OAEP}
	if _, _, err := oaepParam(oaep); err != nil {
		return nil, m, err
	}
	return p, oaep, nil
}

// aesMaterial is a temporary AES key in the form the AES wraps take.
func aesMaterial(v []byte) (*material, error) {
	b, err := aes.NewCipher(v)
	if err != nil {
		return nil, p11.Errorf(p11.CKR_GENERAL_ERROR, "AES: %v", err)
	}
	return &material{class: p11.CKO_SECRET_KEY, keyType: p11.CKK_AES, value: v, block: b}, nil
}

func rsaAESWrap(m ckm.Mechanism, k *material, plain []byte) ([]byte, error) {
	if _, err := k.rsaPublic(); err != nil {
		return nil, err
	}
	p, oaep, err := rsaAESParam(m)
	if err != nil {
		return nil, err
	}
	tmp := make([]byte, p.AESKeyBits/8)
	rand.Read(tmp)
	defer clear(tmp)
	head, _, err := oaepEncrypt(oaep, k, tmp)
	if err != nil {
		return nil, err
	}
	tk, err := aesMaterial(tmp)
	if err != nil {
		return nil, err
	}
	tail, _, err := kwpEncrypt(ckm.Mechanism{}, tk, plain)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

func rsaAESUnwrap(m ckm.Mechanism, k *material, wrapped []byte) ([]byte, error) {
	priv, err := k.rsaPrivate()
	if err != nil {
		return nil, err
	}
	p, oaep, err := rsaAESParam(m)
	if err != nil {
		return nil, err
	}
	if len(wrapped) < priv.Size()+16 {
		return nil, errEncLen
	}
	tmp, err := oaepDecrypt(oaep, k, wrapped[:priv.Size()])
	if err != nil {
		return nil, err
	}
	defer clear(tmp)
	if len(tmp) != int(p.AESKeyBits/8) {
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "the wrapped AES key has %d bytes, not %d", len(tmp), p.AESKeyBits/8)
	}
	tk, err := aesMaterial(tmp)
	if err != nil {
		return nil, err
	}
	return kwpDecrypt(ckm.Mechanism{}, tk, wrapped[priv.Size():])
}
