package keyspec

import (
	"crypto/ecdsa"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Derive is ECDH (NIST SP 800-56A's Elliptic Curve Cryptography Cofactor Diffie-Hellman
// primitive; the NIST curves have cofactor 1) between a PKCS#8 private key and a peer's
// SubjectPublicKeyInfo: the raw shared secret, the x-coordinate of the shared point, as
// DeriveSharedSecret returns it. A peer key that does not parse, or is not on the private
// key's curve, is ValidationException.
func Derive(pkcs8, peer []byte) ([]byte, error) {
	p, err := parseAs[*ecdsa.PrivateKey](pkcs8, ParsePrivate)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublic(peer)
	if err != nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "PublicKey is not a valid DER-encoded X.509 SubjectPublicKeyInfo.")
	}
	q, ok := pub.(*ecdsa.PublicKey)
	if !ok || q.Curve != p.Curve {
		return nil, awsapi.NewError(awsapi.ValidationException, "PublicKey must be on the same elliptic curve as the KMS key (%s).", p.Curve.Params().Name)
	}
	sk, err := p.ECDH()
	if err != nil {
		return nil, err
	}
	pk, err := q.ECDH()
	if err != nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "PublicKey is not a valid point of curve %s.", p.Curve.Params().Name)
	}
	return sk.ECDH(pk)
}
