package mech

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The curves CloudHSM lists beyond P-256/384/521 (AWS-keys): secp224r1 and secp256k1. Their
// answers are checked against published vectors (Project Wycheproof, C2SP/wycheproof
// testvectors_v1) and against a textbook affine-coordinate implementation in this file, which
// shares no code with the registry's (Go's crypto/ecdsa for P-224, decred's secp256k1).

var (
	secp256k1OID = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a} // 1.3.132.0.10
	secp224r1OID = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x21} // 1.3.132.0.33
)

// refCurve is y² = x³ + ax + b over GF(p) with base point g of prime order n, computed with
// math/big in affine coordinates; nil is the point at infinity.
type refCurve struct {
	p, a, b, n *big.Int
	g          refPoint
	size       int
}

type refPoint []*big.Int // {x, y}, or nil

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad hex " + s)
	}
	return v
}

// SEC 2 v2 §2.4.1.
var refSecp256k1 = &refCurve{
	p: hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F"),
	a: big.NewInt(0), b: big.NewInt(7),
	n: hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"),
	g: refPoint{hexInt("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"),
		hexInt("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8")},
	size: 32,
}

// P-224 (FIPS 186-4 D.1.2.2): a = -3; the constants are those crypto/elliptic publishes.
var refP224 = func() *refCurve {
	p := elliptic.P224().Params()
	return &refCurve{p: p.P, a: new(big.Int).Sub(p.P, big.NewInt(3)), b: p.B, n: p.N, g: refPoint{p.Gx, p.Gy}, size: 28}
}()

func (c *refCurve) onCurve(q refPoint) bool {
	if q == nil {
		return false
	}
	x, y := q[0], q[1]
	lhs := new(big.Int).Mul(y, y)
	rhs := new(big.Int).Mul(x, x)
	rhs.Add(rhs, c.a).Mul(rhs, x).Add(rhs, c.b)
	return lhs.Sub(lhs, rhs).Mod(lhs, c.p).Sign() == 0
}

func (c *refCurve) add(q, r refPoint) refPoint {
	if q == nil {
		return r
	}
	if r == nil {
		return q
	}
	var l *big.Int
	if q[0].Cmp(r[0]) == 0 {
		if new(big.Int).Add(q[1], r[1]).Mod(new(big.Int).Add(q[1], r[1]), c.p).Sign() == 0 {
			return nil
		}
		num := new(big.Int).Mul(q[0], q[0])
		num.Mul(num, big.NewInt(3)).Add(num, c.a)
		den := new(big.Int).Lsh(q[1], 1)
		l = num.Mul(num, den.ModInverse(den, c.p))
	} else {
		num := new(big.Int).Sub(r[1], q[1])
		den := new(big.Int).Sub(r[0], q[0])
		den.Mod(den, c.p)
		l = num.Mul(num, den.ModInverse(den, c.p))
	}
	l.Mod(l, c.p)
	x := new(big.Int).Mul(l, l)
	x.Sub(x, q[0]).Sub(x, r[0]).Mod(x, c.p)
	y := new(big.Int).Sub(q[0], x)
	y.Mul(y, l).Sub(y, q[1]).Mod(y, c.p)
	return refPoint{x, y}
}

func (c *refCurve) mul(k *big.Int, q refPoint) refPoint {
	var acc refPoint
	for i := k.BitLen() - 1; i >= 0; i-- {
		acc = c.add(acc, acc)
		if k.Bit(i) == 1 {
			acc = c.add(acc, q)
		}
	}
	return acc
}

func (c *refCurve) encode(q refPoint) []byte {
	out := make([]byte, 1+2*c.size)
	out[0] = 4
	q[0].FillBytes(out[1 : 1+c.size])
	q[1].FillBytes(out[1+c.size:])
	return out
}

// bits2int: the leftmost bits of the hash, as many as the order has (SEC 1 §4.1.3 step 5).
func (c *refCurve) bits2int(h []byte) *big.Int {
	e := new(big.Int).SetBytes(h)
	if excess := len(h)*8 - c.n.BitLen(); excess > 0 {
		e.Rsh(e, uint(excess))
	}
	return e
}

func (c *refCurve) verify(pub refPoint, h, sig []byte) bool {
	r, s := new(big.Int).SetBytes(sig[:c.size]), new(big.Int).SetBytes(sig[c.size:])
	if r.Sign() == 0 || s.Sign() == 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return false
	}
	w := new(big.Int).ModInverse(s, c.n)
	u1 := new(big.Int).Mul(c.bits2int(h), w)
	u2 := new(big.Int).Mul(r, w)
	x := c.add(c.mul(u1.Mod(u1, c.n), c.g), c.mul(u2.Mod(u2, c.n), pub))
	return x != nil && new(big.Int).Mod(x[0], c.n).Cmp(r) == 0
}

func (c *refCurve) sign(t *testing.T, d *big.Int, h []byte) []byte {
	for {
		k, err := rand.Int(rand.Reader, c.n)
		mustOK(t, err)
		if k.Sign() == 0 {
			continue
		}
		r := new(big.Int).Mod(c.mul(k, c.g)[0], c.n)
		s := new(big.Int).Mul(r, d)
		s.Add(s, c.bits2int(h)).Mul(s, k.ModInverse(k, c.n)).Mod(s, c.n)
		if r.Sign() == 0 || s.Sign() == 0 {
			continue
		}
		out := make([]byte, 2*c.size)
		r.FillBytes(out[:c.size])
		s.FillBytes(out[c.size:])
		return out
	}
}

func ecPublicFromPoint(t *testing.T, oid, pt []byte) *Key {
	return mustKey(t, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
		p11.CKA_EC_PARAMS: oid, p11.CKA_EC_POINT: derOctetString(pt)})
}

func ecPrivateFromScalar(t *testing.T, oid, d []byte) *Key {
	return mustKey(t, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
		p11.CKA_EC_PARAMS: oid, p11.CKA_VALUE: d})
}

// generatePair makes a key pair through CKM_EC_KEY_PAIR_GEN and answers it as objects.
func generatePair(t *testing.T, oid []byte) (priv, pub *Key) {
	t.Helper()
	pubAdd, privAdd, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: oid}, attr.Set{})
	mustOK(t, err)
	if !bytes.Equal(pubAdd[p11.CKA_EC_PARAMS], oid) || !bytes.Equal(privAdd[p11.CKA_EC_PARAMS], oid) {
		t.Fatalf("CKA_EC_PARAMS %x / %x, want %x", pubAdd[p11.CKA_EC_PARAMS], privAdd[p11.CKA_EC_PARAMS], oid)
	}
	privObj, pubObj := privAdd.Clone(), pubAdd.Clone()
	privObj[p11.CKA_CLASS], privObj[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKO_PRIVATE_KEY), attr.Ulong(p11.CKK_EC)
	pubObj[p11.CKA_CLASS], pubObj[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKO_PUBLIC_KEY), attr.Ulong(p11.CKK_EC)
	return mustKey(t, privObj), mustKey(t, pubObj)
}

func rawECPoint(t *testing.T, k *Key) []byte {
	t.Helper()
	var raw []byte
	if rest, err := asn1.Unmarshal(k.Attrs.(attr.Set)[p11.CKA_EC_POINT], &raw); err != nil || len(rest) != 0 {
		t.Fatalf("CKA_EC_POINT is no DER OCTET STRING: %v", err)
	}
	return raw
}

var ecdsaMechs = map[uint32]crypto.Hash{p11.CKM_ECDSA: 0, p11.CKM_ECDSA_SHA1: crypto.SHA1, p11.CKM_ECDSA_SHA224: crypto.SHA224,
	p11.CKM_ECDSA_SHA256: crypto.SHA256, p11.CKM_ECDSA_SHA384: crypto.SHA384, p11.CKM_ECDSA_SHA512: crypto.SHA512}

// Key generation, every ECDSA mechanism and ECDH on secp256k1 and P-224, each checked against
// the reference arithmetic: the public point is d·G, the registry's signatures verify there and
// the reference's verify in the registry, and both sides of an ECDH agree with d·Q.
func TestNewCurvesAgainstReference(t *testing.T) {
	for name, tc := range map[string]struct {
		oid []byte
		ref *refCurve
	}{"secp256k1": {secp256k1OID, refSecp256k1}, "P-224": {secp224r1OID, refP224}} {
		t.Run(name, func(t *testing.T) {
			c := tc.ref
			if !c.onCurve(c.g) {
				t.Fatal("reference base point is not on the curve")
			}
			priv, pub := generatePair(t, tc.oid)
			d := priv.Attrs.(attr.Set)[p11.CKA_VALUE]
			if len(d) != c.size {
				t.Fatalf("CKA_VALUE of %d bytes, want %d", len(d), c.size)
			}
			dInt := new(big.Int).SetBytes(d)
			q := c.mul(dInt, c.g)
			if !bytes.Equal(rawECPoint(t, pub), c.encode(q)) {
				t.Fatal("generated public point is not d·G")
			}
			info, err := Lookup(p11.CKM_EC_KEY_PAIR_GEN)
			mustOK(t, err)
			if bits := uint64(c.n.BitLen()); bits < info.MinKeySize || bits > info.MaxKeySize {
				t.Fatalf("CKM_EC_KEY_PAIR_GEN advertises %d-%d bits, the curve has %d", info.MinKeySize, info.MaxKeySize, bits)
			}
			msg := []byte("signed on " + name)
			for m, h := range ecdsaMechs {
				data, digest := msg, msg
				if h == 0 {
					digest = hashOf(crypto.SHA256, msg)
					data = digest
				} else {
					digest = hashOf(h, msg)
				}
				sig, err := Sign(ckm.Mechanism{Type: m}, priv, data)
				mustOK(t, err)
				if len(sig) != 2*c.size || !c.verify(q, digest, sig) {
					t.Fatalf("%s: the reference rejects the registry's signature %x", p11.MechName(m), sig)
				}
				mustOK(t, Verify(ckm.Mechanism{Type: m}, pub, data, sig))
				ref := c.sign(t, dInt, digest)
				mustOK(t, Verify(ckm.Mechanism{Type: m}, pub, data, ref))
				mustOK(t, Verify(ckm.Mechanism{Type: m}, priv, data, ref))
				ref[3] ^= 0x10
				wantCode(t, Verify(ckm.Mechanism{Type: m}, pub, data, ref), p11.CKR_SIGNATURE_INVALID)
			}
			// ECDH both ways: the peer's scalar is the reference's.
			e, err := rand.Int(rand.Reader, c.n)
			mustOK(t, err)
			e.Add(e, big.NewInt(1)).Mod(e, c.n)
			peer := c.mul(e, c.g)
			want := make([]byte, c.size)
			c.mul(e, q)[0].FillBytes(want)
			tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}
			for _, mech := range []uint32{p11.CKM_ECDH1_DERIVE, p11.CKM_ECDH1_COFACTOR_DERIVE} {
				got, err := Derive(ckm.Mechanism{Type: mech, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: c.encode(peer)}}, priv, tmpl)
				mustOK(t, err)
				if !bytes.Equal(got[p11.CKA_VALUE], want) {
					t.Fatalf("%s = %x, want %x", p11.MechName(mech), got[p11.CKA_VALUE], want)
				}
			}
			// A point off the curve is refused, as on the NIST curves.
			bad := c.encode(peer)
			bad[len(bad)-1] ^= 1
			_, err = Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: bad}}, priv, tmpl)
			wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
			_, err = NewKey(attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
				p11.CKA_EC_PARAMS: tc.oid, p11.CKA_EC_POINT: derOctetString(bad)})
			wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
			// A scalar of zero or not below the order is no key.
			for _, s := range [][]byte{make([]byte, c.size), c.n.FillBytes(make([]byte, c.size))} {
				_, err = NewKey(attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
					p11.CKA_EC_PARAMS: tc.oid, p11.CKA_VALUE: s})
				wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
			}
		})
	}
}

// Wycheproof ecdsa_secp256k1_sha256_p1363_test.json: its key, tcId 1 (a valid signature whose s
// is above n/2: PKCS#11 ECDSA does not impose low s), and invalid ones (tcId 4: r replaced by
// n - r; 21: r = 1, s = n - 1; 26: r = n; 33: r = n - 1, s = 1).
func TestSecp256k1ECDSAWycheproof(t *testing.T) {
	pub := ecPublicFromPoint(t, secp256k1OID, unhex(t, "04b838ff44e5bc177bf21189d0766082fc9d843226887fc9760371100b7ee20a6ff0c9d75bfba7b31a6bca1974496eeb56de357071955d83c4b1badaa0b21832e9"))
	msg := unhex(t, "313233343030")
	valid := unhex(t, "813ef79ccefa9a56f7ba805f0e478584fe5f0dd5f567bc09b5123ccbc9832365900e75ad233fcc908509dbff5922647db37c21f4afd3203ae8dc4ae7794b0f87")
	mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, pub, msg, valid))
	mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA}, pub, hashOf(crypto.SHA256, msg), valid))
	for id, sig := range map[int]string{
		4:  "7ec10863310565a908457fa0f1b87a79bc4fcf10b9e0e4320ac021c106b31ddc6ff18a52dcc0336f7af62400a6dd9b810732baf1ff758000d6f613a556eb31ba",
		21: "0000000000000000000000000000000000000000000000000000000000000001fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
		26: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd03641410000000000000000000000000000000000000000000000000000000000000001",
		33: "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd03641400000000000000000000000000000000000000000000000000000000000000001",
	} {
		if err := Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, pub, msg, unhex(t, sig)); p11.Code(err) != p11.CKR_SIGNATURE_INVALID {
			t.Errorf("tcId %d: %v, want CKR_SIGNATURE_INVALID", id, err)
		}
	}
}

// Wycheproof ECDH vectors: ecdh_secp256k1_test.json tcId 1 (normal), 3 (shared x = 1) and 8
// (a repeating bit pattern), whose public keys are SubjectPublicKeyInfo (the point is their
// last 65 bytes); ecdh_secp224r1_ecpoint_test.json tcId 15 and 35.
func TestNewCurvesECDHWycheproof(t *testing.T) {
	k1 := "3056301006072a8648ce3d020106052b8104000a03420004"
	for _, v := range []struct {
		oid                  []byte
		public, priv, shared string
	}{
		{secp256k1OID, k1 + "d8096af8a11e0b80037e1ee68246b5dcbb0aeb1cf1244fd767db80f3fa27da2b396812ea1686e7472e9692eaf3e958e50e9500d3b4c77243db1f2acd67ba9cc4",
			"00f4b7ff7cccc98813a69fae3df222bfe3f4e28f764bf91b4a10d8096ce446b254", "544dfae22af6af939042b1d85b71a1e49e9a5614123c4d6ad0c8af65baf87d65"},
		{secp256k1OID, k1 + "965ff42d654e058ee7317cced7caf093fbb180d8d3a74b0dcd9d8cd47a39d5cb9c2aa4daac01a4be37c20467ede964662f12983e0b5272a47a5f2785685d8087",
			"00a2b6442a37f8a3764aeff4011a4c422b389a1e509669c43f279c8b7e32d80c3a", "0000000000000000000000000000000000000000000000000000000000000001"},
		{secp256k1OID, k1 + "166aed3bc281705444f933913f670957a118f8da2c71bd301a90929743e2ca583514a7972e33d6fea1e377ef4184937f67b37e41ef3099c228a88f5bfb67e5b9",
			"00a2b6442a37f8a3764aeff4011a4c422b389a1e509669c43f279c8b7e32d80c3a", "00000000000000000000000000000000ffffffffffffffffffffffffffffffff"},
		{secp224r1OID, "046bc7672f08b97ac37cb61f8106482261e5897c9f4bd1f04a3c217c2a588116c183ea709045197e5e371f1d5254075fe581c93c4583769ec3",
			"00a2b6442a37f9201b56758034d2009be64b0ab7c02d7e398cac9665d6", "55555555555555555555555555555555555555555555555555555555"},
		{secp224r1OID, "04937eb09fb145c8829cb7df20a4cbeed396791373de277871d6c5f9cc3b5b4fd56464a71fc4a2a6af3bd251952bffa829489e68a8d06f96b6",
			"00a2b6442a37f9201b56758034d2009be64b0ab7c02d7e398cac9665d6", "ffffffff00000000ffffffff00000000ffffffff00000000ffffffff"},
	} {
		public := unhex(t, v.public)
		if v.oid[len(v.oid)-1] == 0x0a {
			public = public[len(public)-65:]
		}
		priv := ecPrivateFromScalar(t, v.oid, unhex(t, v.priv))
		tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}
		got, err := Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: public}}, priv, tmpl)
		mustOK(t, err)
		if want := unhex(t, v.shared); !bytes.Equal(got[p11.CKA_VALUE], want) {
			t.Errorf("ECDH(%x) = %x, want %x", v.priv, got[p11.CKA_VALUE], want)
		}
	}
}

// EC private keys of every curve wrap as PKCS#8 (RFC 5208, RFC 5915 ECPrivateKey) and come back
// the same; for the curves Go's x509 knows, the bytes are exactly what x509 writes.
func TestECPKCS8AllCurves(t *testing.T) {
	kek := secretKey(t, p11.CKK_AES, bytes.Repeat([]byte{9}, 32))
	m := ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}
	for _, c := range curves {
		priv, _ := generatePair(t, c.oid)
		der, _, err := targetBytes(priv.Attrs.(attr.Set))
		mustOK(t, err)
		if c.name != "secp256k1" {
			k, err := x509.ParsePKCS8PrivateKey(der)
			mustOK(t, err)
			again, err := x509.MarshalPKCS8PrivateKey(k)
			mustOK(t, err)
			if !bytes.Equal(again, der) {
				t.Fatalf("%s: PKCS#8 differs from x509's:\n%x\n%x", c.name, der, again)
			}
		}
		w, err := Wrap(m, kek, priv.Attrs.(attr.Set))
		mustOK(t, err)
		got, err := Unwrap(m, kek, w, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC)})
		mustOK(t, err)
		if !bytes.Equal(got[p11.CKA_VALUE], priv.Attrs.(attr.Set)[p11.CKA_VALUE]) || !bytes.Equal(got[p11.CKA_EC_PARAMS], c.oid) {
			t.Fatalf("%s: unwrapped %x on %x", c.name, got[p11.CKA_VALUE], got[p11.CKA_EC_PARAMS])
		}
	}
}
