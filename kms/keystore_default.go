package kms

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
	"github.com/hsmsim/hsmsim/kms/record"
)

// softwareStore is the default key store: the material of AWS_KMS keys is made by this process
// and kept sealed under the master key in each key's record (db.go). Symmetric material encrypts
// in this process; asymmetric and HMAC material signs and MACs here too (sign.go, mac.go), and
// only this store rotates (rotation.go).
type softwareStore struct {
	db    *record.DB
	now   func() time.Time
	aeads sync.Map // materialAAD → cipher.AEAD, unsealed symmetric material
}

var _ keyStore = (*softwareStore)(nil)

func (st *softwareStore) newKey(_ context.Context, _ *caller, k *keyRec, _ string) error {
	v, pub, err := st.newMaterial(k, 1, "")
	if err != nil {
		return err
	}
	k.Versions, k.PublicKey = []matVersion{v}, pub
	return nil
}

func (st *softwareStore) material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error) {
	return softwareMaterial{st: st, k: k, v: v}, nil
}

// available: the default store's material is always at hand.
func (st *softwareStore) available(*keyRec) bool { return true }

// destroy has nothing to do: the material goes with the key's record.
func (st *softwareStore) destroy(context.Context, *keyRec) {}

func materialAAD(keyID string, n uint32) string {
	return "kms-material:" + keyID + ":" + strconv.FormatUint(uint64(n), 10)
}

// newMaterial makes version n of a default-store key's material, sealed; for an asymmetric key it
// also returns the public key (DER SubjectPublicKeyInfo).
func (st *softwareStore) newMaterial(k *keyRec, n uint32, rotation string) (matVersion, []byte, error) {
	var secret, pub []byte
	switch {
	case k.Spec == specSymmetric:
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	case keyspec.HMAC(k.Spec):
		bits, _ := strconv.Atoi(strings.TrimPrefix(k.Spec, "HMAC_"))
		secret = make([]byte, bits/8)
		_, _ = rand.Read(secret)
	default:
		var err error
		if secret, pub, err = keyspec.Generate(k.Spec); err != nil {
			return matVersion{}, nil, err
		}
	}
	v := matVersion{N: n, ID: randomHex(32), Created: st.now().UTC(), Rotation: rotation, Sealed: st.db.Seal(secret, materialAAD(k.ID, n))}
	clear(secret)
	return v, pub, nil
}

// secret unseals a default-store material version.
func (st *softwareStore) secret(k *keyRec, v matVersion) ([]byte, error) {
	return st.db.Unseal(v.Sealed, materialAAD(k.ID, v.N))
}

// aead returns the AES-256-GCM of a symmetric default-store material version, unsealed once.
func (st *softwareStore) aead(k *keyRec, v matVersion) (cipher.AEAD, error) {
	ref := materialAAD(k.ID, v.N)
	if a, ok := st.aeads.Load(ref); ok {
		return a.(cipher.AEAD), nil
	}
	key, err := st.secret(k, v)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	a, _ := cipher.NewGCM(blk)
	st.aeads.Store(ref, a)
	return a, nil
}

// addVersion rotates k: a new version of its material, which encrypts from now on.
func (st *softwareStore) addVersion(k *keyRec, how string) error {
	v, _, err := st.newMaterial(k, uint32(len(k.Versions)+1), how)
	if err != nil {
		return err
	}
	k.Versions = append(k.Versions, v)
	return nil
}

// softwareMaterial is a symmetric version of the default store, unsealed when first used.
type softwareMaterial struct {
	st *softwareStore
	k  *keyRec
	v  matVersion
}

func (m softwareMaterial) Seal(_ context.Context, aad, plain []byte) (nonce, sealed []byte, err error) {
	a, err := m.st.aead(m.k, m.v)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, blobNonceLen)
	_, _ = rand.Read(nonce)
	return nonce, a.Seal(nil, nonce, plain, aad), nil
}

func (m softwareMaterial) Open(_ context.Context, nonce, aad, sealed []byte) ([]byte, error) {
	a, err := m.st.aead(m.k, m.v)
	if err != nil {
		return nil, err
	}
	plain, err := a.Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, awsapi.NewError(errInvalidCiphertext, "")
	}
	return plain, nil
}

func (m softwareMaterial) Random(_ context.Context, n int) ([]byte, error) {
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	return plain, nil
}
