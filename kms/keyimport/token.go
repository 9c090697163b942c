package keyimport

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"time"
)

// TokenValidity is how long a wrapping key and its import token may be used: 24 hours
// (GetParametersForImport: "Each public key and import token set is valid for 24 hours").
const TokenValidity = 24 * time.Hour

// Sealer encrypts and authenticates a token under a key only the KMS holds, with aad bound to it
// (package kms's master-key sealing, which survives a restart).
type Sealer interface {
	Seal(plain []byte, aad string) []byte
	Unseal(sealed []byte, aad string) ([]byte, error)
}

// Token is what an import token carries. It is opaque to the client: sealed, it holds the
// wrapping private key itself, so a token stays usable across a restart without a record of it,
// and it names the one KMS key and wrapping algorithm it was issued for.
type Token struct {
	ID          string // unique per token, so a KMS can refuse one used already
	KeyID       string
	Algorithm   string
	ValidTo     time.Time
	WrappingKey *rsa.PrivateKey
}

// tokenV1 is the first byte of every token: the format version.
const (
	tokenV1  = 0x01
	tokenAAD = "kms-import-token:v1"
)

type tokenBody struct {
	ID      string    `json:"id"`
	KeyID   string    `json:"key"`
	Alg     string    `json:"alg"`
	ValidTo time.Time `json:"valid_to"`
	Key     []byte    `json:"wrapping_key"` // PKCS#8
}

// Seal gives t a fresh ID (when it has none) and returns the token bytes.
func (t *Token) Seal(s Sealer) ([]byte, error) {
	if t.ID == "" {
		id := make([]byte, 16)
		_, _ = rand.Read(id)
		t.ID = hex.EncodeToString(id)
	}
	der, err := x509.MarshalPKCS8PrivateKey(t.WrappingKey)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(tokenBody{ID: t.ID, KeyID: t.KeyID, Alg: t.Algorithm, ValidTo: t.ValidTo.UTC(), Key: der})
	clear(der)
	if err != nil {
		return nil, err
	}
	sealed := s.Seal(body, tokenAAD)
	clear(body)
	return append([]byte{tokenV1}, sealed...), nil
}

// OpenToken unseals token bytes; anything else is ErrInvalidToken.
func OpenToken(s Sealer, b []byte) (*Token, error) {
	if len(b) < 2 || b[0] != tokenV1 {
		return nil, ErrInvalidToken
	}
	body, err := s.Unseal(b[1:], tokenAAD)
	if err != nil {
		return nil, ErrInvalidToken
	}
	defer clear(body)
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return nil, ErrInvalidToken
	}
	k, err := x509.ParsePKCS8PrivateKey(tb.Key)
	clear(tb.Key)
	priv, ok := k.(*rsa.PrivateKey)
	if err != nil || !ok {
		return nil, ErrInvalidToken
	}
	return &Token{ID: tb.ID, KeyID: tb.KeyID, Algorithm: tb.Alg, ValidTo: tb.ValidTo, WrappingKey: priv}, nil
}

// Issue makes what GetParametersForImport answers for key keyID: a fresh wrapping key pair of
// spec for algorithm alg, its public key (DER SubjectPublicKeyInfo) and the sealed token that
// binds it to keyID until validTo, TokenValidity after now.
func Issue(s Sealer, keyID, alg, spec string, now time.Time) (pub, token []byte, validTo time.Time, err error) {
	priv, err := NewWrappingKey(spec)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	validTo = now.Add(TokenValidity)
	if token, err = (&Token{KeyID: keyID, Algorithm: alg, ValidTo: validTo, WrappingKey: priv}).Seal(s); err != nil {
		return nil, nil, time.Time{}, err
	}
	if pub, err = x509.MarshalPKIXPublicKey(&priv.PublicKey); err != nil {
		return nil, nil, time.Time{}, err
	}
	return pub, token, validTo, nil
}
