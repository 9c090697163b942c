package mech

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// curve is one supported named curve: the curves CloudHSM lists (AWS-keys: secp224r1,
// secp256r1, secp256k1, secp384r1, secp521r1). Go's standard library does the NIST curves;
// secp256k1, which it lacks, is decred's implementation.
type curve struct {
	name string
	oid  []byte // DER of the OBJECT IDENTIFIER, as CKA_EC_PARAMS holds it
	size int    // bytes of a field element / scalar
	ops  curveOps
}

// curveOps is a curve's arithmetic on the byte forms PKCS#11 stores: big-endian scalars of the
// curve's size and uncompressed points (04 || X || Y). Each constructor validates its input
// (a scalar in [1, n-1], a point on the curve).
type curveOps interface {
	generate() (d []byte, err error)
	private(d []byte) (ecPrivKey, error)
	public(point []byte) (ecPubKey, error)
}

// ecPubKey verifies r||s (each the curve's size) over a hash, truncated to the order's length
// as ECDSA specifies.
type ecPubKey interface {
	point() []byte
	verify(digest, r, s []byte) bool
}

// ecPrivKey signs (answering r and s, each the curve's size) and computes an ECDH secret: the
// x coordinate of d·Q for an uncompressed peer point Q.
type ecPrivKey interface {
	scalar() []byte
	pub() ecPubKey
	sign(digest []byte) (r, s []byte, err error)
	sharedX(peer []byte) ([]byte, error)
}

var curves = []*curve{
	{"P-256", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, 32, nist{elliptic.P256(), ecdh.P256()}},
	{"P-384", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 48, nist{elliptic.P384(), ecdh.P384()}},
	{"P-521", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, 66, nist{elliptic.P521(), ecdh.P521()}},
	{"P-224", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21}, 28, nist{elliptic.P224(), nil}},
	{"secp256k1", []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}, 32, koblitz{}},
}

// nist is a NIST curve through crypto/ecdsa and crypto/ecdh. crypto/ecdh has no P-224 (dh
// nil): its ECDH is the scalar multiplication of crypto/elliptic, on a point crypto/ecdsa has
// checked.
type nist struct {
	ec elliptic.Curve
	dh ecdh.Curve
}

type nistPub struct{ k *ecdsa.PublicKey }

type nistPriv struct {
	k  *ecdsa.PrivateKey
	dh *ecdh.PrivateKey // nil for P-224
	c  nist
}

func (c nist) generate() ([]byte, error) {
	k, err := ecdsa.GenerateKey(c.ec, rand.Reader)
	if err != nil {
		return nil, err
	}
	return k.Bytes()
}

func (c nist) private(d []byte) (ecPrivKey, error) {
	k, err := ecdsa.ParseRawPrivateKey(c.ec, d)
	if err != nil {
		return nil, err
	}
	p := &nistPriv{k: k, c: c}
	if c.dh != nil {
		if p.dh, err = k.ECDH(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (c nist) public(pt []byte) (ecPubKey, error) {
	k, err := ecdsa.ParseUncompressedPublicKey(c.ec, pt)
	if err != nil {
		return nil, err
	}
	return nistPub{k}, nil
}

func (p nistPub) point() []byte {
	b, _ := p.k.Bytes() // a key ParseUncompressedPublicKey or ParseRawPrivateKey accepted encodes
	return b
}

func (p nistPub) verify(digest, r, s []byte) bool {
	return ecdsa.Verify(p.k, digest, new(big.Int).SetBytes(r), new(big.Int).SetBytes(s))
}

func (p *nistPriv) scalar() []byte {
	b, _ := p.k.Bytes()
	return b
}

func (p *nistPriv) pub() ecPubKey { return nistPub{&p.k.PublicKey} }

func (p *nistPriv) sign(digest []byte) ([]byte, []byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, p.k, digest)
	if err != nil {
		return nil, nil, err
	}
	return r.Bytes(), s.Bytes(), nil
}

func (p *nistPriv) sharedX(peer []byte) ([]byte, error) {
	if p.dh != nil {
		q, err := p.c.dh.NewPublicKey(peer)
		if err != nil {
			return nil, err
		}
		return p.dh.ECDH(q)
	}
	q, err := ecdsa.ParseUncompressedPublicKey(p.c.ec, peer)
	if err != nil {
		return nil, err
	}
	x, _ := p.c.ec.ScalarMult(q.X, q.Y, p.scalar()) //nolint:staticcheck // crypto/ecdh has no P-224
	out := make([]byte, (p.c.ec.Params().BitSize+7)/8)
	return x.FillBytes(out), nil
}

// koblitz is secp256k1 (SEC 2 §2.4.1) through github.com/decred/dcrd/dcrec/secp256k1. Its
// signatures are deterministic (RFC 6979) with s at most n/2; verification takes any s.
type koblitz struct{}

type koblitzPub struct{ k *secp256k1.PublicKey }

type koblitzPriv struct{ k *secp256k1.PrivateKey }

var errScalar = errors.New("scalar not in [1, n-1]")

// scalarOf reads a big-endian number below the order n, or answers ok false.
func scalarOf(b []byte) (s secp256k1.ModNScalar, ok bool) {
	if len(b) > 32 {
		return s, false
	}
	overflow := s.SetByteSlice(b)
	return s, !overflow
}

func (koblitz) generate() ([]byte, error) {
	k, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	return k.Serialize(), nil
}

func (koblitz) private(d []byte) (ecPrivKey, error) {
	s, ok := scalarOf(d)
	if !ok || s.IsZero() {
		return nil, errScalar
	}
	return koblitzPriv{secp256k1.NewPrivateKey(&s)}, nil
}

func (koblitz) public(pt []byte) (ecPubKey, error) {
	if len(pt) != 65 || pt[0] != 4 { // ParsePubKey would also take the compressed and hybrid forms
		return nil, errors.New("not an uncompressed point")
	}
	k, err := secp256k1.ParsePubKey(pt)
	if err != nil {
		return nil, err
	}
	return koblitzPub{k}, nil
}

func (p koblitzPub) point() []byte { return p.k.SerializeUncompressed() }

func (p koblitzPub) verify(digest, r, s []byte) bool {
	rs, okR := scalarOf(r)
	ss, okS := scalarOf(s)
	return okR && okS && k1ecdsa.NewSignature(&rs, &ss).Verify(digest, p.k)
}

func (p koblitzPriv) scalar() []byte { return p.k.Serialize() }

func (p koblitzPriv) pub() ecPubKey { return koblitzPub{p.k.PubKey()} }

func (p koblitzPriv) sign(digest []byte) ([]byte, []byte, error) {
	sig := k1ecdsa.Sign(p.k, digest)
	r, s := sig.R(), sig.S()
	rb, sb := r.Bytes(), s.Bytes()
	return rb[:], sb[:], nil
}

func (p koblitzPriv) sharedX(peer []byte) ([]byte, error) {
	q, err := koblitz{}.public(peer)
	if err != nil {
		return nil, err
	}
	return secp256k1.GenerateSharedSecret(p.k, q.(koblitzPub).k), nil
}
