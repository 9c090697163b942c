package bench

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// concurrency levels the issue asks for: one client, and sixteen at once.
var clientCounts = []int{1, 16}

// op is one operation as a benchmark runs it: one call, any error fails the benchmark.
type op func() error

// runClients splits b.N operations over n goroutines, each with its own op (its own client
// connection), and reports operations per second.
func runClients(b *testing.B, ops []op) {
	b.Helper()
	n := len(ops)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		count := b.N / n
		if i < b.N%n {
			count++
		}
		wg.Add(1)
		go func(o op, count int) {
			defer wg.Done()
			for j := 0; j < count; j++ {
				if err := o(); err != nil {
					errs <- err
					return
				}
			}
		}(ops[i], count)
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// fixture is one node with an EC key, an RSA key and an AES key, and the same kinds of keys in
// the standard library for the in-process peer.
type fixture struct {
	node             *nodetest.Node
	ec, rsaKey, aesK uint32
	stdEC            *ecdsa.PrivateKey
	stdRSA           *rsa.PrivateKey
	stdGCM           cipher.AEAD
}

func newFixture(b *testing.B) *fixture { return newFixtureWith(b, nodetest.Options{}) }

// newFixtureWith is newFixture with the node started with o.
func newFixtureWith(b *testing.B, o nodetest.Options) *fixture {
	n := nodetest.Start(b, o)
	c := n.Alice(b)
	ctx := context.Background()
	tok := attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	_, ec, err := c.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_EC_PARAMS, Value: p256OID}}, []attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		b.Fatal(err)
	}
	_, rk, err := c.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_MODULUS_BITS, Value: attr.Ulong(2048)}}, []attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		b.Fatal(err)
	}
	ak, err := c.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{tok, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}})
	if err != nil {
		b.Fatal(err)
	}
	f := &fixture{node: n, ec: ec, rsaKey: rk, aesK: ak}
	if f.stdEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		b.Fatal(err)
	}
	if f.stdRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		b.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	blk, _ := aes.NewCipher(key)
	f.stdGCM, _ = cipher.NewGCM(blk)
	return f
}

// clients logs in n separate clients (n connections), as n applications would.
func (f *fixture) clients(b *testing.B, n int) []*client.Client {
	out := make([]*client.Client, n)
	for i := range out {
		out[i] = f.node.Alice(b)
	}
	return out
}

// socketClient logs in a client that reaches the node on the socket at path: over the local wire,
// or with grpcOnly over gRPC.
func (f *fixture) socketClient(b *testing.B, path string, grpcOnly bool) *client.Client {
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: f.node.Addr, Socket: path}}, CAPEM: f.node.CA.CertPEM, GRPCOnly: grpcOnly})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := c.Login(context.Background(), nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkNodeVsStdlib runs each operation through the node API and in-process with the
// standard library, at each concurrency, so the ratio is the API's overhead: over TCP with TLS
// (node-api), as a client on another host reaches a node, and over the node's socket with the
// local wire (node-api-socket), as a client on its host does.
func BenchmarkNodeVsStdlib(b *testing.B) {
	f := newFixtureWith(b, nodetest.Options{Socket: true})
	digest := sha256.Sum256([]byte("benchmark message"))
	plain := make([]byte, 1024)
	ctx := context.Background()
	type kind struct {
		name   string
		node   func(c *client.Client) op
		stdlib func() op
	}
	kinds := []kind{
		{"ECDSA-P256-sign",
			func(c *client.Client) op {
				return func() error {
					_, err := c.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, f.ec, digest[:])
					return err
				}
			},
			func() op {
				return func() error { _, err := ecdsa.SignASN1(rand.Reader, f.stdEC, digest[:]); return err }
			}},
		{"RSA2048-PKCS1v15-SHA256-sign",
			func(c *client.Client) op {
				return func() error {
					_, err := c.Sign(ctx, ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, f.rsaKey, plain[:64])
					return err
				}
			},
			func() op {
				return func() error {
					h := sha256.Sum256(plain[:64])
					_, err := rsa.SignPKCS1v15(nil, f.stdRSA, crypto.SHA256, h[:])
					return err
				}
			}},
		{"AES256-GCM-1KiB-encrypt",
			func(c *client.Client) op {
				return func() error {
					_, _, err := c.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}, f.aesK, plain)
					return err
				}
			},
			func() op {
				nonce := make([]byte, 12)
				return func() error {
					if _, err := rand.Read(nonce); err != nil { // the node draws a fresh IV per call too
						return err
					}
					f.stdGCM.Seal(nil, nonce, plain, nil)
					return nil
				}
			}},
	}
	for _, k := range kinds {
		for _, n := range clientCounts {
			b.Run(fmt.Sprintf("%s/clients=%d/node-api", k.name, n), func(b *testing.B) {
				ops := make([]op, n)
				for i, c := range f.clients(b, n) {
					ops[i] = k.node(c)
				}
				runClients(b, ops)
			})
			b.Run(fmt.Sprintf("%s/clients=%d/node-api-socket", k.name, n), func(b *testing.B) {
				ops := make([]op, n)
				for i := range ops {
					ops[i] = k.node(f.socketClient(b, f.node.Socket, false))
				}
				runClients(b, ops)
			})
			b.Run(fmt.Sprintf("%s/clients=%d/stdlib", k.name, n), func(b *testing.B) {
				ops := make([]op, n)
				for i := range ops {
					ops[i] = k.stdlib()
				}
				runClients(b, ops)
			})
		}
	}
}
