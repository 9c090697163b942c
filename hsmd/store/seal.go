package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

// Sealed record layout, as stored in bbolt:
//
//	version (1 byte, sealV1) || nonce (12 bytes, random) || AES-256-GCM ciphertext and tag
//
// The additional data is bucket || 0x00 || key, so a sealed value only opens
// under the record it was written to: a value copied to another key or bucket
// fails with ErrCorrupt. Bucket names cannot contain 0x00 (see checkBucket),
// which keeps that encoding unambiguous. The version byte leaves room for a
// later format (for example node-key rotation); it is not authenticated, but
// an unknown version is refused, so flipping it gains an attacker nothing.
//
// Random 96-bit nonces under one key are safe for about 2^32 seals (NIST SP
// 800-38D), far beyond what an emulated node writes.
const (
	sealV1       = 0x01
	nonceSize    = 12
	sealOverhead = 1 + nonceSize + 16 // version + nonce + GCM tag
	nodeKeySize  = 32                 // AES-256
)

// sealer seals and opens record values under the node key. It is safe for
// concurrent use (cipher.AEAD from crypto/cipher is).
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != nodeKeySize {
		return nil, fmt.Errorf("store: node key is %d bytes, want %d", len(key), nodeKeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("store: node key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: node key: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// aad binds a sealed value to its record.
func aad(bucket string, key []byte) []byte {
	ad := make([]byte, 0, len(bucket)+1+len(key))
	ad = append(ad, bucket...)
	ad = append(ad, 0x00)
	return append(ad, key...)
}

// seal returns a fresh sealed copy of value for the record bucket/key.
func (s *sealer) seal(bucket string, key, value []byte) []byte {
	out := make([]byte, 1+nonceSize, sealOverhead+len(value))
	out[0] = sealV1
	rand.Read(out[1 : 1+nonceSize]) // crypto/rand.Read never fails (Go 1.24+)
	return s.aead.Seal(out, out[1:1+nonceSize], value, aad(bucket, key))
}

// open unseals a record. The result never aliases sealed (which may point
// into bbolt's mmap) and is non-nil even for an empty value. Any failure is
// ErrCorrupt.
func (s *sealer) open(bucket string, key, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealV1 {
		return nil, fmt.Errorf("%w: bucket %q key %q: malformed record", ErrCorrupt, bucket, key)
	}
	nonce := sealed[1 : 1+nonceSize]
	ct := sealed[1+nonceSize:]
	plain, err := s.aead.Open(make([]byte, 0, len(ct)-16), nonce, ct, aad(bucket, key))
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %q key %q: authentication failed", ErrCorrupt, bucket, key)
	}
	return plain, nil
}
