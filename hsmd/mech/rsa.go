package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"math/big"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// RSA: key-pair generation, PKCS#1 v1.5, PSS, OAEP and raw (X.509) operations.

func init() {
	register(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)},
		genPair: rsaGenerate})
	register(p11.CKM_RSA_PKCS, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, secretOnly: true,
		sign: rsaPKCSSign(0), verify: rsaPKCSVerify(0), encrypt: rsaPKCSEncrypt, decrypt: rsaPKCSDecrypt,
		wrap: wrapWith(rsaPKCSEncrypt), unwrap: rsaPKCSDecrypt, check: rsaCheck(nil)})
	register(p11.CKM_RSA_PKCS_OAEP, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, secretOnly: true,
		encrypt: oaepEncrypt, decrypt: oaepDecrypt, wrap: wrapWith(oaepEncrypt), unwrap: oaepDecrypt, check: oaepCheck})
	register(p11.CKM_RSA_X_509, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits,
		sign: rawSign, verify: rawVerify, encrypt: rawEncrypt, decrypt: rawDecrypt, check: rsaCheck(nil)})
	register(p11.CKM_RSA_PKCS_PSS, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, sign: pssSign(0), verify: pssVerify(0), check: pssCheck(0)})
	for _, c := range []struct {
		pkcs, pss uint32
		h         crypto.Hash
	}{
		{p11.CKM_SHA1_RSA_PKCS, p11.CKM_SHA1_RSA_PKCS_PSS, crypto.SHA1},
		{p11.CKM_SHA224_RSA_PKCS, p11.CKM_SHA224_RSA_PKCS_PSS, crypto.SHA224},
		{p11.CKM_SHA256_RSA_PKCS, p11.CKM_SHA256_RSA_PKCS_PSS, crypto.SHA256},
		{p11.CKM_SHA384_RSA_PKCS, p11.CKM_SHA384_RSA_PKCS_PSS, crypto.SHA384},
		{p11.CKM_SHA512_RSA_PKCS, p11.CKM_SHA512_RSA_PKCS_PSS, crypto.SHA512},
	} {
		register(c.pkcs, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, sign: rsaPKCSSign(c.h), verify: rsaPKCSVerify(c.h), check: rsaCheck(nil)})
		register(c.pss, &entry{minKey: rsaMinBits, maxKey: rsaMaxBits, sign: pssSign(c.h), verify: pssVerify(c.h), check: pssCheck(c.h)})
	}
}

// wrapWith turns an encrypt function into a wrap function.
func wrapWith(enc func(ckm.Mechanism, *material, []byte) ([]byte, ckm.Mechanism, error)) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(m ckm.Mechanism, k *material, plain []byte) ([]byte, error) {
		out, _, err := enc(m, k, plain)
		return out, err
	}
}

// rsaGenerate reads CKA_MODULUS_BITS (1024–4096 in 256-bit steps) and an optional
// CKA_PUBLIC_EXPONENT from the public template. Go's generator only makes e = 65537, so any
// other exponent is CKR_ATTRIBUTE_VALUE_INVALID.
func rsaGenerate(_ ckm.Mechanism, pub, _ attr.Set) (attr.Set, attr.Set, error) {
	bits, ok := pub.Ulong(p11.CKA_MODULUS_BITS)
	if !ok {
		return nil, nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_MODULUS_BITS missing from the public template")
	}
	if bits < rsaMinBits || bits > rsaMaxBits || bits%rsaStepBits != 0 {
		return nil, nil, p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "RSA modulus of %d bits (%d-%d in steps of %d)", bits, rsaMinBits, rsaMaxBits, rsaStepBits)
	}
	if e, ok := pub[p11.CKA_PUBLIC_EXPONENT]; ok {
		if v := new(big.Int).SetBytes(e); !v.IsInt64() || v.Int64() != 65537 {
			return nil, nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "only public exponent 65537 is supported")
		}
	}
	k, err := rsa.GenerateKey(rand.Reader, int(bits))
	if err != nil {
		return nil, nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "RSA key generation: %v", err)
	}
	priv := rsaPrivAttrs(k)
	return attr.Set{p11.CKA_MODULUS: priv[p11.CKA_MODULUS], p11.CKA_PUBLIC_EXPONENT: priv[p11.CKA_PUBLIC_EXPONENT]}, priv, nil
}

// rsaPrivAttrs is the PKCS#11 form of a two-prime private key: big-endian unsigned integers.
func rsaPrivAttrs(k *rsa.PrivateKey) attr.Set {
	p, q := k.Primes[0], k.Primes[1]
	one := big.NewInt(1)
	dp := new(big.Int).Mod(k.D, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(k.D, new(big.Int).Sub(q, one))
	qinv := new(big.Int).ModInverse(q, p)
	return attr.Set{
		p11.CKA_MODULUS:          k.N.Bytes(),
		p11.CKA_PUBLIC_EXPONENT:  big.NewInt(int64(k.E)).Bytes(),
		p11.CKA_PRIVATE_EXPONENT: k.D.Bytes(),
		p11.CKA_PRIME_1:          p.Bytes(),
		p11.CKA_PRIME_2:          q.Bytes(),
		p11.CKA_EXPONENT_1:       dp.Bytes(),
		p11.CKA_EXPONENT_2:       dq.Bytes(),
		p11.CKA_COEFFICIENT:      qinv.Bytes(),
	}
}

// pkcsInput is what CKM_RSA_PKCS signs: the caller's bytes (a DigestInfo, or raw data for
// TLS 1.0-style signatures) of at most k-11 bytes, or for SHA*_RSA_PKCS the hash of the data.
func pkcsInput(h crypto.Hash, k int, data []byte) ([]byte, error) {
	if h != 0 {
		return hashOf(h, data), nil
	}
	if len(data) > k-11 {
		return nil, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS input of %d bytes, at most %d", len(data), k-11)
	}
	return data, nil
}

func rsaPKCSSign(h crypto.Hash) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(_ ckm.Mechanism, k *material, data []byte) ([]byte, error) {
		priv, err := k.rsaPrivate()
		if err != nil {
			return nil, err
		}
		in, err := pkcsInput(h, priv.Size(), data)
		if err != nil {
			return nil, err
		}
		sig, err := rsa.SignPKCS1v15(nil, priv, h, in)
		if err != nil {
			return nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "RSA sign: %v", err)
		}
		return sig, nil
	}
}

func rsaPKCSVerify(h crypto.Hash) func(ckm.Mechanism, *material, []byte, []byte) error {
	return func(_ ckm.Mechanism, k *material, data, sig []byte) error {
		pub, err := k.rsaPublic()
		if err != nil {
			return err
		}
		in, err := pkcsInput(h, pub.Size(), data)
		if err != nil {
			return err
		}
		if len(sig) != pub.Size() {
			return errSigLen
		}
		if rsa.VerifyPKCS1v15(pub, h, in, sig) != nil {
			return errSigInvalid
		}
		return nil
	}
}

// pssParam checks CK_RSA_PKCS_PSS_PARAMS: a known hash (the mechanism's own for SHA*_RSA_PKCS_PSS),
// MGF1 with that same hash (Go's PSS has no other), and a salt that fits the key.
func pssParam(m ckm.Mechanism, fixed crypto.Hash, pub *rsa.PublicKey) (crypto.Hash, int, error) {
	p, ok := m.Param.(*ckm.PSSParams)
	if !ok || p == nil {
		return 0, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "PSS needs CK_RSA_PKCS_PSS_PARAMS")
	}
	h, ok := mechHash[p.Hash]
	if !ok || (fixed != 0 && h != fixed) {
		return 0, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "PSS hashAlg %#x", p.Hash)
	}
	if mh, ok := mgfHash[p.MGF]; !ok || mh != h {
		return 0, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "PSS mgf %#x does not match hashAlg", p.MGF)
	}
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	if int64(p.SaltLen) > int64(emLen-h.Size()-2) {
		return 0, 0, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "PSS salt of %d bytes too long for the key", p.SaltLen)
	}
	return h, int(p.SaltLen), nil
}

// pssInput: CKM_RSA_PKCS_PSS signs a hash the caller made (its length must be the hash's);
// SHA*_RSA_PKCS_PSS hash the data.
func pssInput(fixed, h crypto.Hash, data []byte) ([]byte, error) {
	if fixed != 0 {
		return hashOf(h, data), nil
	}
	if len(data) != h.Size() {
		return nil, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "CKM_RSA_PKCS_PSS input of %d bytes, want a %d-byte hash", len(data), h.Size())
	}
	return data, nil
}

func pssSign(fixed crypto.Hash) func(ckm.Mechanism, *material, []byte) ([]byte, error) {
	return func(m ckm.Mechanism, k *material, data []byte) ([]byte, error) {
		priv, err := k.rsaPrivate()
		if err != nil {
			return nil, err
		}
		h, salt, err := pssParam(m, fixed, &priv.PublicKey)
		if err != nil {
			return nil, err
		}
		digest, err := pssInput(fixed, h, data)
		if err != nil {
			return nil, err
		}
		if salt == 0 {
			// Go reads SaltLength 0 as "auto"; an empty salt is encoded here instead.
			em := emsaPSSEncode(h, digest, nil, priv.N.BitLen()-1)
			return rsaRaw(priv.D, priv.N, em, priv.Size()), nil
		}
		sig, err := rsa.SignPSS(rand.Reader, priv, h, digest, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			return nil, p11.Errorf(p11.CKR_FUNCTION_FAILED, "RSA-PSS sign: %v", err)
		}
		return sig, nil
	}
}

func pssVerify(fixed crypto.Hash) func(ckm.Mechanism, *material, []byte, []byte) error {
	return func(m ckm.Mechanism, k *material, data, sig []byte) error {
		pub, err := k.rsaPublic()
		if err != nil {
			return err
		}
		h, salt, err := pssParam(m, fixed, pub)
		if err != nil {
			return err
		}
		digest, err := pssInput(fixed, h, data)
		if err != nil {
			return err
		}
		if len(sig) != pub.Size() {
			return errSigLen
		}
		if salt == 0 {
			s := new(big.Int).SetBytes(sig)
			if s.Cmp(pub.N) >= 0 {
				return errSigInvalid
			}
			emBits := pub.N.BitLen() - 1
			em := rsaRaw(big.NewInt(int64(pub.E)), pub.N, sig, (emBits+7)/8+1)
			if em[0] != 0 || !emsaPSSVerify(h, digest, em[1:], emBits, 0) {
				return errSigInvalid
			}
			return nil
		}
		if rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: salt}) != nil {
			return errSigInvalid
		}
		return nil
	}
}

// rsaRaw computes in^exp mod n as size big-endian bytes (size must hold the result). It serves
// CKM_RSA_X_509 and zero-salt PSS, which the standard library does not offer; it is not
// constant-time, which an emulator can afford for these rarely used paths.
func rsaRaw(exp, n *big.Int, in []byte, size int) []byte {
	c := new(big.Int).SetBytes(in)
	c.Exp(c, exp, n)
	return c.FillBytes(make([]byte, size))
}

func mgf1XOR(out []byte, h crypto.Hash, seed []byte) {
	var ctr [4]byte
	var done int
	for i := uint32(0); done < len(out); i++ {
		hh := h.New()
		hh.Write(seed)
		binary.BigEndian.PutUint32(ctr[:], i)
		hh.Write(ctr[:])
		done += subtle.XORBytes(out[done:], out[done:], hh.Sum(nil))
	}
}

// emsaPSSEncode is EMSA-PSS-ENCODE of RFC 8017 §9.1.1 with MGF1 over the same hash.
func emsaPSSEncode(h crypto.Hash, mHash, salt []byte, emBits int) []byte {
	emLen := (emBits + 7) / 8
	hLen := h.Size()
	hh := h.New()
	hh.Write(make([]byte, 8))
	hh.Write(mHash)
	hh.Write(salt)
	H := hh.Sum(nil)
	em := make([]byte, emLen)
	db := em[:emLen-hLen-1]
	db[emLen-len(salt)-hLen-2] = 1
	copy(db[emLen-len(salt)-hLen-1:], salt)
	mgf1XOR(db, h, H)
	db[0] &= 0xff >> (8*emLen - emBits)
	copy(em[emLen-hLen-1:], H)
	em[emLen-1] = 0xbc
	return em
}

// emsaPSSVerify is EMSA-PSS-VERIFY of RFC 8017 §9.1.2 for a known salt length.
func emsaPSSVerify(h crypto.Hash, mHash, em []byte, emBits, sLen int) bool {
	emLen := (emBits + 7) / 8
	hLen := h.Size()
	if len(em) != emLen || emLen < hLen+sLen+2 || em[emLen-1] != 0xbc {
		return false
	}
	db := append([]byte(nil), em[:emLen-hLen-1]...)
	H := em[emLen-hLen-1 : emLen-1]
	if db[0]&^(0xff>>(8*emLen-emBits)) != 0 {
		return false
	}
	mgf1XOR(db, h, H)
	db[0] &= 0xff >> (8*emLen - emBits)
	ps := emLen - hLen - sLen - 2
	for _, b := range db[:ps] {
		if b != 0 {
			return false
		}
	}
	if db[ps] != 1 {
		return false
	}
	hh := h.New()
	hh.Write(make([]byte, 8))
	hh.Write(mHash)
	hh.Write(db[len(db)-sLen:])
	return subtle.ConstantTimeCompare(hh.Sum(nil), H) == 1
}

func rsaPKCSEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	pub, err := k.rsaPublic()
	if err != nil {
		return nil, m, err
	}
	if len(plain) > pub.Size()-11 {
		return nil, m, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "RSA PKCS#1 v1.5 input of %d bytes, at most %d", len(plain), pub.Size()-11)
	}
	out, err := rsa.EncryptPKCS1v15(rand.Reader, pub, plain)
	if err != nil {
		return nil, m, p11.Errorf(p11.CKR_FUNCTION_FAILED, "RSA encrypt: %v", err)
	}
	return out, m, nil
}

func rsaPKCSDecrypt(_ ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	priv, err := k.rsaPrivate()
	if err != nil {
		return nil, err
	}
	if len(ct) != priv.Size() {
		return nil, errEncLen
	}
	out, err := rsa.DecryptPKCS1v15(nil, priv, ct)
	if err != nil {
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "RSA PKCS#1 v1.5 decryption failed")
	}
	return out, nil
}

// oaepParam checks CK_RSA_PKCS_OAEP_PARAMS: a known hash, MGF1 with the same hash, a label.
func oaepParam(m ckm.Mechanism) (crypto.Hash, []byte, error) {
	p, ok := m.Param.(*ckm.OAEPParams)
	if !ok || p == nil {
		return 0, nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "OAEP needs CK_RSA_PKCS_OAEP_PARAMS")
	}
	h, ok := mechHash[p.Hash]
	if !ok {
		return 0, nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "OAEP hashAlg %#x", p.Hash)
	}
	if mh, ok := mgfHash[p.MGF]; !ok || mh != h {
		return 0, nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "OAEP mgf %#x does not match hashAlg", p.MGF)
	}
	return h, p.Source, nil
}

func oaepEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	pub, err := k.rsaPublic()
	if err != nil {
		return nil, m, err
	}
	h, label, err := oaepParam(m)
	if err != nil {
		return nil, m, err
	}
	if max := pub.Size() - 2*h.Size() - 2; len(plain) > max {
		return nil, m, p11.Errorf(p11.CKR_DATA_LEN_RANGE, "OAEP input of %d bytes, at most %d", len(plain), max)
	}
	out, err := rsa.EncryptOAEP(h.New(), rand.Reader, pub, plain, label)
	if err != nil {
		return nil, m, p11.Errorf(p11.CKR_FUNCTION_FAILED, "OAEP encrypt: %v", err)
	}
	return out, m, nil
}

func oaepDecrypt(m ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	priv, err := k.rsaPrivate()
	if err != nil {
		return nil, err
	}
	h, label, err := oaepParam(m)
	if err != nil {
		return nil, err
	}
	if len(ct) != priv.Size() {
		return nil, errEncLen
	}
	out, err := rsa.DecryptOAEP(h.New(), nil, priv, ct, label)
	if err != nil {
		if errors.Is(err, rsa.ErrDecryption) {
			return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "OAEP decryption failed")
		}
		return nil, p11.Errorf(p11.CKR_ENCRYPTED_DATA_INVALID, "OAEP: %v", err)
	}
	return out, nil
}

// rawInput checks an X.509 (raw RSA) input: at most k bytes and, as a number, below the modulus.
func rawInput(pub *rsa.PublicKey, in []byte) bool {
	return len(in) <= pub.Size() && new(big.Int).SetBytes(in).Cmp(pub.N) < 0
}

func rawSign(_ ckm.Mechanism, k *material, data []byte) ([]byte, error) {
	priv, err := k.rsaPrivate()
	if err != nil {
		return nil, err
	}
	if !rawInput(&priv.PublicKey, data) {
		return nil, errDataLen
	}
	return rsaRaw(priv.D, priv.N, data, priv.Size()), nil
}

func rawVerify(_ ckm.Mechanism, k *material, data, sig []byte) error {
	pub, err := k.rsaPublic()
	if err != nil {
		return err
	}
	if !rawInput(pub, data) {
		return errDataLen
	}
	if len(sig) != pub.Size() {
		return errSigLen
	}
	if !rawInput(pub, sig) {
		return errSigInvalid
	}
	got := rsaRaw(big.NewInt(int64(pub.E)), pub.N, sig, pub.Size())
	want, _ := leftPad(data, pub.Size())
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return errSigInvalid
	}
	return nil
}

func rawEncrypt(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error) {
	pub, err := k.rsaPublic()
	if err != nil {
		return nil, m, err
	}
	if !rawInput(pub, plain) {
		return nil, m, errDataLen
	}
	return rsaRaw(big.NewInt(int64(pub.E)), pub.N, plain, pub.Size()), m, nil
}

func rawDecrypt(_ ckm.Mechanism, k *material, ct []byte) ([]byte, error) {
	priv, err := k.rsaPrivate()
	if err != nil {
		return nil, err
	}
	if len(ct) != priv.Size() {
		return nil, errEncLen
	}
	if !rawInput(&priv.PublicKey, ct) {
		return nil, errEncInvalid
	}
	return rsaRaw(priv.D, priv.N, ct, priv.Size()), nil
}
