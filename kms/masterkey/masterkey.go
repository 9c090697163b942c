// Package masterkey is the KMS's key at rest: a 32-byte key in a file of the data directory,
// made at the first start, under which the KMS seals the secrets it stores (default-store key
// material, kmsuser passwords) with AES-256-GCM. Each sealed value is bound to a name (the AAD)
// that says what it is and whose, so it cannot be moved to another record.
package masterkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
)

// Key seals and unseals under the master key.
type Key struct{ aead cipher.AEAD }

// Open reads the master key in path, creating it when the file does not exist.
func Open(path string) (*Key, error) {
	b, err := load(path)
	if err != nil {
		return nil, err
	}
	blk, _ := aes.NewCipher(b)
	aead, _ := cipher.NewGCM(blk)
	clear(b)
	return &Key{aead: aead}, nil
}

// load reads the 32-byte master key, creating it on first start.
func load(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return b, f.Close()
	}
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("kms: %s: master key must be 32 bytes, found %d", path, len(b))
	}
	return b, nil
}

// Seal encrypts a secret; aad names what it is and whose.
func (k *Key) Seal(plain []byte, aad string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plain, []byte(aad))
}

// Unseal decrypts what Seal made under the same aad.
func (k *Key) Unseal(sealed []byte, aad string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns {
		return nil, errors.New("kms: sealed value too short")
	}
	p, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("kms: unseal %s: %w", aad, err)
	}
	return p, nil
}
