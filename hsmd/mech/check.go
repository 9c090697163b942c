package mech

import (
	"crypto"
	"crypto/rsa"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Check answers, without data, what an operation would answer of its mechanism and key: a
// mechanism that does not do the operation (CKR_MECHANISM_INVALID), a key of a type it does not
// take (CKR_KEY_TYPE_INCONSISTENT) or of a size it cannot use (CKR_KEY_SIZE_RANGE), a bad
// parameter (CKR_MECHANISM_PARAM_INVALID). PKCS#11 names these codes at C_EncryptInit,
// C_DecryptInit, C_SignInit and C_VerifyInit, so the node runs Check for an Init, and each
// operation runs the same checks (the same functions) before it touches its data.
//
// usage is the operation, as its key attribute: CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN or
// CKA_VERIFY. Check reads parameter lengths and numeric fields, never the bytes of an IV, a
// label or AAD, so a client may remember its answer for parameters of the same shape.
func Check(usage uint32, m ckm.Mechanism, k *Key) error {
	e, err := lookup(m.Type)
	if err != nil {
		return err
	}
	var does bool
	switch usage {
	case p11.CKA_ENCRYPT:
		does = e.encrypt != nil
	case p11.CKA_DECRYPT:
		does = e.decrypt != nil
	case p11.CKA_SIGN:
		does = e.sign != nil
	case p11.CKA_VERIFY:
		does = e.verify != nil
	default:
		return p11.Errorf(p11.CKR_ARGUMENTS_BAD, "Check takes CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN or CKA_VERIFY, not %#x", usage)
	}
	if !does {
		return errMechanismInvalid
	}
	km, err := k.mat()
	if err != nil {
		return err
	}
	if e.check == nil {
		return nil
	}
	return e.check(usage, m, km)
}

// checker is an entry's Check: the key it needs for the operation, then its parameter.
type checker func(usage uint32, m ckm.Mechanism, k *material) error

// private says whether an operation uses the private half of an asymmetric key.
func private(usage uint32) bool { return usage == p11.CKA_SIGN || usage == p11.CKA_DECRYPT }

// aesCheck: an AES key of a valid length, then the parameter (nil: none to check).
func aesCheck(param func(ckm.Mechanism) error) checker { return blockCheck((*material).aes, param) }

// blockCheck: the key a block cipher mode takes, then the parameter (nil: none to check).
func blockCheck(key blockKey, param func(ckm.Mechanism) error) checker {
	return func(_ uint32, m ckm.Mechanism, k *material) error {
		if _, err := key(k); err != nil {
			return err
		}
		if param == nil {
			return nil
		}
		return param(m)
	}
}

// macCheck: a key an HMAC takes.
func macCheck(_ uint32, _ ckm.Mechanism, k *material) error {
	_, err := k.macKey()
	return err
}

// rsaCheck: the RSA half the operation needs, of a usable size, then the parameter.
func rsaCheck(param func(ckm.Mechanism, *rsa.PublicKey) error) checker {
	return func(usage uint32, m ckm.Mechanism, k *material) error {
		var pub *rsa.PublicKey
		if private(usage) {
			priv, err := k.rsaPrivate()
			if err != nil {
				return err
			}
			pub = &priv.PublicKey
		} else {
			var err error
			if pub, err = k.rsaPublic(); err != nil {
				return err
			}
		}
		if param == nil {
			return nil
		}
		return param(m, pub)
	}
}

func pssCheck(h crypto.Hash) checker {
	return rsaCheck(func(m ckm.Mechanism, pub *rsa.PublicKey) error {
		_, _, err := pssParam(m, h, pub)
		return err
	})
}

var oaepCheck = rsaCheck(func(m ckm.Mechanism, _ *rsa.PublicKey) error {
	_, _, err := oaepParam(m)
	return err
})

// ecCheck: the EC half the operation needs.
func ecCheck(usage uint32, _ ckm.Mechanism, k *material) error {
	if private(usage) {
		_, err := k.ecPrivate()
		return err
	}
	_, err := k.ecPublic()
	return err
}

// gcmCheck: gcmParam, and an IV to decrypt with (an encryption may leave it to the HSM).
func gcmCheck(usage uint32, m ckm.Mechanism, k *material) error {
	p, _, err := gcmParam(m, k)
	if err != nil {
		return err
	}
	if usage == p11.CKA_DECRYPT && len(p.IV) == 0 {
		return errGCMDecryptIV
	}
	return nil
}
