package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// ClusterKey wraps key material wherever it leaves a node's memory in a form other nodes read:
// commands in the Raft log, snapshots, backups. Every node of a cluster holds the same key (it is
// handed to a joining node over mutual TLS), and a node keeps it sealed under its own node key.
type ClusterKey struct {
	aead cipher.AEAD
	raw  []byte
}

// ClusterKeySize is the size of a cluster key: AES-256.
const ClusterKeySize = 32

// NewClusterKey makes a fresh random cluster key.
func NewClusterKey() (*ClusterKey, error) {
	k := make([]byte, ClusterKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return LoadClusterKey(k)
}

// LoadClusterKey uses existing key bytes.
func LoadClusterKey(k []byte) (*ClusterKey, error) {
	if len(k) != ClusterKeySize {
		return nil, fmt.Errorf("token: cluster key must be %d bytes", ClusterKeySize)
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		return nil, err
	}
	return &ClusterKey{aead: a, raw: append([]byte(nil), k...)}, nil
}

// Bytes returns the raw key, for sealing it into the node's own store and handing it to joiners.
func (c *ClusterKey) Bytes() []byte { return append([]byte(nil), c.raw...) }

var errUnseal = errors.New("token: material does not open under the cluster key")

// SealMaterial wraps material attributes; aad binds them to their context (the command).
func (c *ClusterKey) SealMaterial(m attr.Set, aad []byte) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&hsmpb.NewObject{Public: hsmpb.AttrsToPB(m)})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, c.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return c.aead.Seal(nonce, nonce, b, aad), nil
}

// OpenMaterial reverses SealMaterial. It is deterministic, so Apply may call it.
func (c *ClusterKey) OpenMaterial(sealed, aad []byte) (attr.Set, error) {
	if len(sealed) == 0 {
		return attr.Set{}, nil
	}
	if len(sealed) < c.aead.NonceSize()+c.aead.Overhead() {
		return nil, errUnseal
	}
	ns := c.aead.NonceSize()
	plain, err := c.aead.Open(nil, sealed[:ns], sealed[ns:], aad)
	if err != nil {
		return nil, errUnseal
	}
	var o hsmpb.NewObject
	if err := proto.Unmarshal(plain, &o); err != nil {
		return nil, errUnseal
	}
	return hsmpb.AttrsFromPB(o.Public), nil
}
