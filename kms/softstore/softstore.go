// Package softstore is the KMS's default key store: the material of AWS_KMS keys (and the
// imported material of EXTERNAL ones) is made or given to this process and kept sealed under the
// master key in each key's record. Symmetric material encrypts here, as AES-256-GCM unsealed once
// and kept in memory; asymmetric and HMAC material is unsealed for each signature or MAC. Package
// kms adapts it to its key store interface.
package softstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/ciphertext"
	"github.com/hsmsim/hsmsim/kms/keymaterial"
	"github.com/hsmsim/hsmsim/kms/keyspec"
	"github.com/hsmsim/hsmsim/kms/record"
)

// Store keeps default-store material sealed in its key records.
type Store struct {
	db    *record.DB
	now   func() time.Time
	aeads sync.Map // MaterialAAD → cipher.AEAD, unsealed symmetric material
}

// New is the default store sealing with db's master key; now stamps new versions.
func New(db *record.DB, now func() time.Time) *Store { return &Store{db: db, now: now} }

// MaterialAAD is the identity a version's sealed material is bound to: a sealed value cannot be
// moved to another key or version.
func MaterialAAD(keyID string, n uint32) string {
	return "kms-material:" + keyID + ":" + strconv.FormatUint(uint64(n), 10)
}

// NewMaterial makes version n of a default-store key's material, sealed; for an asymmetric key
// it also returns the public key (DER SubjectPublicKeyInfo).
func (st *Store) NewMaterial(k *record.Key, n uint32, rotation string) (keymaterial.Version, []byte, error) {
	var secret, pub []byte
	switch {
	case k.Spec == keyspec.Symmetric:
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	case keyspec.HMAC(k.Spec):
		bits, _ := strconv.Atoi(strings.TrimPrefix(k.Spec, "HMAC_"))
		secret = make([]byte, bits/8)
		_, _ = rand.Read(secret)
	default:
		var err error
		if secret, pub, err = keyspec.Generate(k.Spec); err != nil {
			return keymaterial.Version{}, nil, err
		}
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	v := keymaterial.Version{N: n, ID: hex.EncodeToString(id), Created: st.now().UTC(), Rotation: rotation, Sealed: st.db.Seal(secret, MaterialAAD(k.ID, n))}
	clear(secret)
	return v, pub, nil
}

// Secret unseals a material version.
func (st *Store) Secret(k *record.Key, v keymaterial.Version) ([]byte, error) {
	return st.db.Unseal(v.Sealed, MaterialAAD(k.ID, v.N))
}

// Forget drops the unsealed copy of a version whose material was deleted or replaced.
func (st *Store) Forget(keyID string, n uint32) { st.aeads.Delete(MaterialAAD(keyID, n)) }

// aead returns the AES-256-GCM of a symmetric material version, unsealed once.
func (st *Store) aead(k *record.Key, v keymaterial.Version) (cipher.AEAD, error) {
	ref := MaterialAAD(k.ID, v.N)
	if a, ok := st.aeads.Load(ref); ok {
		return a.(cipher.AEAD), nil
	}
	key, err := st.Secret(k, v)
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

// AddVersion rotates k: a new version of its material, which encrypts from now on.
func (st *Store) AddVersion(k *record.Key, how string) error {
	v, _, err := st.NewMaterial(k, uint32(len(k.Versions)+1), how)
	if err != nil {
		return err
	}
	k.Versions = append(k.Versions, v)
	return nil
}

// Material is a symmetric version of the default store, unsealed when first used.
type Material struct {
	st *Store
	k  *record.Key
	v  keymaterial.Version
}

// Material is version v of k.
func (st *Store) Material(k *record.Key, v keymaterial.Version) Material {
	return Material{st: st, k: k, v: v}
}

// Seal encrypts plain under a random nonce.
func (m Material) Seal(_ context.Context, aad, plain []byte) (nonce, sealed []byte, err error) {
	a, err := m.st.aead(m.k, m.v)
	if err != nil {
		return nil, nil, err
	}
	nonce = make([]byte, ciphertext.NonceLen)
	_, _ = rand.Read(nonce)
	return nonce, a.Seal(nil, nonce, plain, aad), nil
}

// Open decrypts sealed; a ciphertext that does not open is InvalidCiphertextException.
func (m Material) Open(_ context.Context, nonce, aad, sealed []byte) ([]byte, error) {
	a, err := m.st.aead(m.k, m.v)
	if err != nil {
		return nil, err
	}
	plain, err := a.Open(nil, nonce, sealed, aad)
	if err != nil {
		return nil, awsapi.NewError("InvalidCiphertextException", "")
	}
	return plain, nil
}

// Random is n bytes of this process's random source.
func (m Material) Random(_ context.Context, n int) ([]byte, error) {
	plain := make([]byte, n)
	_, _ = rand.Read(plain)
	return plain, nil
}
