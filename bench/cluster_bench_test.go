package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// BenchmarkSharedClient is the path under the PKCS#11 module without the module: one
// client.Client shared by n goroutines (as the module's sessions share one), against a 3-HSM
// in-process cluster, with batching off (one RPC per call) and on (concurrent calls coalesced,
// hsmd/client/batch.go), side by side. "batched" reports x-unbatched, its ratio to the run
// just before it. It runs in one Go process, so its CPU profile shows both client and nodes.
func BenchmarkSharedClient(b *testing.B) {
	cl := clustertest.Start(b, clustertest.Options{})
	var addrs []client.Node
	for _, n := range cl.Nodes() {
		addrs = append(addrs, client.Node{ID: n.ID, AZ: n.AZ, Addr: n.APIAddr()})
	}
	ctx := context.Background()
	dial := func(batch bool) *client.Client {
		c, err := client.Dial(client.Config{Nodes: addrs, CAPEM: cl.CA.CertPEM, Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if _, err := c.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
			b.Fatal(err)
		}
		return c
	}
	plainC, batchC := dial(false), dial(true)
	tok := attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	_, ec, err := plainC.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_EC_PARAMS, Value: p256OID}}, []attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		b.Fatal(err)
	}
	_, rk, err := plainC.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_MODULUS_BITS, Value: attr.Ulong(2048)}}, []attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		b.Fatal(err)
	}
	ak, err := plainC.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{tok, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}})
	if err != nil {
		b.Fatal(err)
	}
	// The batched client must see the keys the other made: share its read-your-writes index.
	batchC.Session().Observe(plainC.Session().Index())
	digest := sha256.Sum256([]byte("benchmark message"))
	plain := make([]byte, 1024)
	kinds := []struct {
		name string
		op   func(c *client.Client) op
	}{
		{"ECDSA-P256-sign", func(c *client.Client) op {
			return func() error { _, err := c.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, ec, digest[:]); return err }
		}},
		{"RSA2048-PKCS1v15-SHA256-sign", func(c *client.Client) op {
			return func() error {
				_, err := c.Sign(ctx, ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, rk, plain[:64])
				return err
			}
		}},
		{"AES256-GCM-1KiB-encrypt", func(c *client.Client) op {
			return func() error {
				_, _, err := c.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}, ak, plain)
				return err
			}
		}},
	}
	for _, k := range kinds {
		for _, n := range sessionCounts {
			var unbatched float64
			for _, mode := range []struct {
				name string
				c    *client.Client
			}{{"unbatched", plainC}, {"batched", batchC}} {
				b.Run(fmt.Sprintf("%s/goroutines=%d/%s", k.name, n, mode.name), func(b *testing.B) {
					ops := make([]op, n)
					for i := range ops {
						ops[i] = k.op(mode.c)
					}
					b0, i0 := mode.c.BatchStats()
					runClients(b, ops)
					rate := float64(b.N) / b.Elapsed().Seconds()
					if mode.c == plainC {
						unbatched = rate
					} else {
						b.ReportMetric(rate/unbatched, "x-unbatched")
						if b1, i1 := mode.c.BatchStats(); b1 > b0 {
							b.ReportMetric(float64(i1-i0)/float64(b1-b0), "calls/batch")
						}
					}
				})
			}
		}
	}
}
