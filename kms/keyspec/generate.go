package keyspec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Key pairs travel as DER: the private key a PKCS#8 PrivateKeyInfo (RFC 5958), the public key an
// X.509 SubjectPublicKeyInfo (RFC 5280), as KMS's GetPublicKey and GenerateDataKeyPair return
// them. The standard library encodes every spec but secp256k1, which it lacks; that curve's keys
// are decred's, encoded here (RFC 5480 and RFC 5915 with the SEC 2 curve OID).

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// Generate makes a key pair of an asymmetric spec.
func Generate(spec string) (pkcs8, spki []byte, err error) {
	var priv crypto.Signer
	switch spec {
	case "RSA_2048":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RSA_3072":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case "RSA_4096":
		priv, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ECC_NIST_P256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ECC_NIST_P384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ECC_NIST_P521":
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "ECC_NIST_EDWARDS25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "ECC_SECG_P256K1":
		k, kerr := secp256k1.GeneratePrivateKey()
		if kerr != nil {
			return nil, nil, kerr
		}
		return marshalK1Private(k), marshalK1Public(k.PubKey()), nil
	default:
		return nil, nil, fmt.Errorf("keyspec: %s is not an asymmetric key spec", spec)
	}
	if err != nil {
		return nil, nil, err
	}
	if pkcs8, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
		return nil, nil, err
	}
	if spki, err = x509.MarshalPKIXPublicKey(priv.Public()); err != nil {
		return nil, nil, err
	}
	return pkcs8, spki, nil
}

type privateKeyInfo struct {
	Version    int
	Algorithm  pkix.AlgorithmIdentifier
	PrivateKey []byte
}

type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// ecPrivateKey is RFC 5915's ECPrivateKey, with the curve left to the PKCS#8 algorithm.
type ecPrivateKey struct {
	Version    int
	PrivateKey []byte
	PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
}

func k1Algorithm() pkix.AlgorithmIdentifier {
	params, _ := asn1.Marshal(oidSecp256k1)
	return pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}
}

func isK1(a pkix.AlgorithmIdentifier) bool {
	var curve asn1.ObjectIdentifier
	if !a.Algorithm.Equal(oidECPublicKey) {
		return false
	}
	_, err := asn1.Unmarshal(a.Parameters.FullBytes, &curve)
	return err == nil && curve.Equal(oidSecp256k1)
}

func marshalK1Public(k *secp256k1.PublicKey) []byte {
	pt := k.SerializeUncompressed()
	der, _ := asn1.Marshal(subjectPublicKeyInfo{Algorithm: k1Algorithm(), PublicKey: asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)}})
	return der
}

func marshalK1Private(k *secp256k1.PrivateKey) []byte {
	pt := k.PubKey().SerializeUncompressed()
	inner, _ := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: k.Serialize(), PublicKey: asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)}})
	der, _ := asn1.Marshal(privateKeyInfo{Algorithm: k1Algorithm(), PrivateKey: inner})
	return der
}

// ParsePrivate reads a PKCS#8 private key of any spec: *rsa.PrivateKey, *ecdsa.PrivateKey,
// ed25519.PrivateKey or *secp256k1.PrivateKey.
func ParsePrivate(der []byte) (any, error) {
	var info privateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err == nil && len(rest) == 0 && isK1(info.Algorithm) {
		var ec ecPrivateKey
		if _, err := asn1.Unmarshal(info.PrivateKey, &ec); err != nil {
			return nil, err
		}
		if len(ec.PrivateKey) != 32 {
			return nil, errors.New("keyspec: secp256k1 private key is not 32 bytes")
		}
		return secp256k1.PrivKeyFromBytes(ec.PrivateKey), nil
	}
	return x509.ParsePKCS8PrivateKey(der)
}

// ParsePublic reads a SubjectPublicKeyInfo of any spec: *rsa.PublicKey, *ecdsa.PublicKey,
// ed25519.PublicKey or *secp256k1.PublicKey.
func ParsePublic(der []byte) (any, error) {
	var info subjectPublicKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err == nil && len(rest) == 0 && isK1(info.Algorithm) {
		return secp256k1.ParsePubKey(info.PublicKey.RightAlign())
	}
	return x509.ParsePKIXPublicKey(der)
}

// parseAs reads a key with parse and requires it to be a T.
func parseAs[T any](der []byte, parse func([]byte) (any, error)) (T, error) {
	var zero T
	k, err := parse(der)
	if err != nil {
		return zero, err
	}
	t, ok := k.(T)
	if !ok {
		return zero, fmt.Errorf("keyspec: a %T, not a %T", k, zero)
	}
	return t, nil
}
