package client_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// batchKeys are the keys the batch tests use: an EC signing key pair, an AES key for
// encryption, and an AES key that may not encrypt.
type batchKeys struct {
	ecPub, ecPriv, aes, aesNoEncrypt uint32
}

func makeBatchKeys(t *testing.T, c *client.Client) batchKeys {
	t.Helper()
	ctx := context.Background()
	tok := attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	var k batchKeys
	var err error
	k.ecPub, k.ecPriv, err = c.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_EC_PARAMS, Value: p256}, {Type: p11.CKA_VERIFY, Value: attr.Bool(true)}},
		[]attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if k.aes, err = c.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{tok, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)}, {Type: p11.CKA_DECRYPT, Value: attr.Bool(true)}}); err != nil {
		t.Fatal(err)
	}
	if k.aesNoEncrypt, err = c.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{tok, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	return k
}

// batchCase is one crypto read, as a batch item and as the same call made alone.
type batchCase struct {
	name  string
	item  *hsmpb.BatchItem
	alone func(ctx context.Context, c *client.Client) (*hsmpb.CryptResponse, error)
}

func pbMech(t uint32, p any) *hsmpb.Mechanism {
	return hsmpb.MechanismToPB(ckm.Mechanism{Type: t, Param: p})
}

// mixedCases succeed and fail in every way a crypto read can, so that each item's answer can be
// held against its call alone.
func mixedCases(k batchKeys) []batchCase {
	d := sha256.Sum256([]byte("batch"))
	gcm := pbMech(p11.CKM_AES_GCM, &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128})
	cases := []struct {
		name string
		item *hsmpb.BatchItem
	}{
		{"sign ok", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Sign{Sign: &hsmpb.CryptRequest{Mechanism: pbMech(p11.CKM_ECDSA, nil), Key: k.ecPriv, Data: d[:]}}}},
		{"sign with no such key", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Sign{Sign: &hsmpb.CryptRequest{Mechanism: pbMech(p11.CKM_ECDSA, nil), Key: 999999, Data: d[:]}}}},
		{"sign with an encryption key", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Sign{Sign: &hsmpb.CryptRequest{Mechanism: pbMech(p11.CKM_ECDSA, nil), Key: k.aes, Data: d[:]}}}},
		{"sign with an unknown mechanism", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Sign{Sign: &hsmpb.CryptRequest{Mechanism: &hsmpb.Mechanism{Type: 0x7fff0000}, Key: k.ecPriv, Data: d[:]}}}},
		{"verify a bad signature", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Verify{Verify: &hsmpb.VerifyRequest{Mechanism: pbMech(p11.CKM_ECDSA, nil), Key: k.ecPub, Data: d[:], Signature: make([]byte, 64)}}}},
		{"encrypt ok", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Encrypt{Encrypt: &hsmpb.CryptRequest{Mechanism: gcm, Key: k.aes, Data: []byte("plain")}}}},
		{"encrypt with a key that may not", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Encrypt{Encrypt: &hsmpb.CryptRequest{Mechanism: gcm, Key: k.aesNoEncrypt, Data: []byte("plain")}}}},
		{"decrypt garbage", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Decrypt{Decrypt: &hsmpb.CryptRequest{Mechanism: gcm, Key: k.aes, Data: []byte("not a ciphertext at all")}}}},
		{"digest ok", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Digest{Digest: &hsmpb.DigestRequest{Mechanism: pbMech(p11.CKM_SHA256, nil), Data: []byte("x")}}}},
		{"random of length 0", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Random{Random: &hsmpb.RandomRequest{Length: 0}}}},
		{"random ok", &hsmpb.BatchItem{Op: &hsmpb.BatchItem_Random{Random: &hsmpb.RandomRequest{Length: 16}}}},
	}
	out := make([]batchCase, len(cases))
	for i, c := range cases {
		it := c.item
		out[i] = batchCase{name: c.name, item: it, alone: func(ctx context.Context, cl *client.Client) (*hsmpb.CryptResponse, error) {
			api := cl.API()
			switch op := it.Op.(type) {
			case *hsmpb.BatchItem_Sign:
				return api.Sign(ctx, op.Sign)
			case *hsmpb.BatchItem_Verify:
				_, err := api.Verify(ctx, op.Verify)
				return &hsmpb.CryptResponse{}, err
			case *hsmpb.BatchItem_Encrypt:
				return api.Encrypt(ctx, op.Encrypt)
			case *hsmpb.BatchItem_Decrypt:
				return api.Decrypt(ctx, op.Decrypt)
			case *hsmpb.BatchItem_Digest:
				return api.Digest(ctx, op.Digest)
			case *hsmpb.BatchItem_Random:
				return api.GenerateRandom(ctx, op.Random)
			}
			panic("no such call")
		}}
	}
	return out
}

// sameError checks that a batch item's error is the one its call alone returned: CK_RV,
// reason, and whether another node might do better.
func sameError(t *testing.T, what string, batched, alone error) {
	t.Helper()
	if (batched == nil) != (alone == nil) {
		t.Errorf("%s: batched %v, alone %v", what, batched, alone)
		return
	}
	if alone == nil {
		return
	}
	if p11.Code(batched) != p11.Code(alone) || p11.Reason(batched) != p11.Reason(alone) || client.Retryable(batched) != client.Retryable(alone) {
		t.Errorf("%s: batched %v (%s, retryable %v), alone %v (%s, retryable %v)", what,
			batched, p11.RVName(p11.Code(batched)), client.Retryable(batched), alone, p11.RVName(p11.Code(alone)), client.Retryable(alone))
	}
}

// TestBatchItemsAnswerAsTheirCallsAlone: one Batch request mixing successes and every kind of
// failure answers each item with exactly the CK_RV its call alone gets; logged out, the items
// that need a login fail with CKR_USER_NOT_LOGGED_IN and the public ones (digest, random) still
// succeed, as alone.
func TestBatchItemsAnswerAsTheirCallsAlone(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	k := makeBatchKeys(t, alice)
	cases := mixedCases(k)
	ctx := context.Background()
	for _, who := range []struct {
		name string
		c    *client.Client
	}{{"logged in", alice}, {"logged out", n.Client(t)}} {
		req := &hsmpb.BatchRequest{}
		for _, c := range cases {
			req.Items = append(req.Items, c.item)
		}
		resp, err := who.c.BatchAPI().Batch(ctx, req)
		if err != nil {
			t.Fatalf("%s: batch: %v", who.name, err)
		}
		if len(resp.Results) != len(cases) {
			t.Fatalf("%s: %d results for %d items", who.name, len(resp.Results), len(cases))
		}
		for i, c := range cases {
			r := resp.Results[i]
			want, aloneErr := c.alone(ctx, who.c)
			got := client.ItemError(r)
			if aloneErr != nil {
				var ce *client.Error
				if errors.As(aloneErr, &ce) && r.Error != nil && ce.Code != 0 && uint32(ce.Code) != r.Code {
					t.Errorf("%s / %s: gRPC code %d, alone %d", who.name, c.name, r.Code, ce.Code)
				}
			}
			sameError(t, who.name+" / "+c.name, got, aloneErr)
			if got == nil && aloneErr == nil && c.name != "verify a bad signature" {
				if r.Response == nil || (len(want.GetData()) > 0 && len(r.Response.Data) == 0) {
					t.Errorf("%s / %s: no data in the batch's answer", who.name, c.name)
				}
			}
		}
	}
	// An item with no operation is refused alone, as bad arguments.
	resp, err := alice.BatchAPI().Batch(ctx, &hsmpb.BatchRequest{Items: []*hsmpb.BatchItem{{}, cases[0].item}})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.ItemError(resp.Results[0]); p11.Code(err) != p11.CKR_ARGUMENTS_BAD || client.Retryable(err) {
		t.Errorf("an empty item: %v, want CKR_ARGUMENTS_BAD", err)
	}
	if err := client.ItemError(resp.Results[1]); err != nil {
		t.Errorf("the item beside an empty one: %v", err)
	}
	// A signature made in a batch verifies.
	d := sha256.Sum256([]byte("batch"))
	resp, err = alice.BatchAPI().Batch(ctx, &hsmpb.BatchRequest{Items: []*hsmpb.BatchItem{cases[0].item}})
	if err != nil || resp.Results[0].Error != nil {
		t.Fatalf("sign in a batch: %v %v", err, resp.GetResults())
	}
	if err := alice.Verify(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.ecPub, d[:], resp.Results[0].Response.Data); err != nil {
		t.Fatalf("a batch's signature does not verify: %v", err)
	}
}

// TestCoalescedCallsGetTheirOwnResults: many goroutines on one batching client, each making
// calls that succeed and calls that fail, each get their own answer; the calls did go in
// batches.
func TestCoalescedCallsGetTheirOwnResults(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	k := makeBatchKeys(t, alice)
	tlsCfg, err := pki.ClientTLS(n.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := client.Dial(client.Config{Addr: n.Addr, TLS: tlsCfg, Session: alice.Session(), Batch: true, BatchFlights: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	ctx := context.Background()
	d := sha256.Sum256([]byte("coalesced"))
	var start, wg sync.WaitGroup
	start.Add(1)
	var failures atomic.Int64
	for g := 0; g < 24; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start.Wait()
			for i := 0; i < 20; i++ {
				switch (g + i) % 4 {
				case 0:
					sig, err := bc.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.ecPriv, d[:])
					if err != nil || len(sig) != 64 {
						t.Errorf("sign: %v (%d bytes)", err, len(sig))
						failures.Add(1)
					} else if err := bc.Verify(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.ecPub, d[:], sig); err != nil {
						t.Errorf("a coalesced signature does not verify: %v", err)
						failures.Add(1)
					}
				case 1:
					_, err := bc.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.aes, d[:])
					if p11.Code(err) != p11.CKR_KEY_TYPE_INCONSISTENT && p11.Code(err) != p11.CKR_KEY_FUNCTION_NOT_PERMITTED {
						t.Errorf("sign with an AES key: %v", err)
						failures.Add(1)
					}
				case 2:
					iv := make([]byte, 12)
					iv[0] = byte(g)
					iv[1] = byte(i)
					m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: iv, TagBits: 128}}
					msg := []byte(fmt.Sprintf("message %d/%d", g, i))
					ct, _, err := bc.Encrypt(ctx, m, k.aes, msg)
					if err != nil {
						t.Errorf("encrypt: %v", err)
						failures.Add(1)
						continue
					}
					pt, err := bc.Decrypt(ctx, m, k.aes, ct)
					if err != nil || string(pt) != string(msg) {
						t.Errorf("decrypt: %v %q, want %q", err, pt, msg)
						failures.Add(1)
					}
				case 3:
					err := bc.Verify(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.ecPub, d[:], make([]byte, 64))
					if p11.Code(err) != p11.CKR_SIGNATURE_INVALID {
						t.Errorf("verify a bad signature: %v", err)
						failures.Add(1)
					}
				}
				if failures.Load() > 5 {
					return
				}
			}
		}()
	}
	start.Done()
	wg.Wait()
	batches, items := bc.BatchStats()
	if batches == 0 || items < 2*batches {
		t.Fatalf("%d batches carrying %d calls: the concurrent calls were not coalesced", batches, items)
	}
	t.Logf("%d batches carried %d calls", batches, items)
}

// TestABatchFailsOverWhenItsNodeDies: 16 goroutines sign through one batching client against a
// 3-HSM cluster while the node serving them is killed; no call fails, and the client saw a
// batch fail on one node and go to another.
func TestABatchFailsOverWhenItsNodeDies(t *testing.T) {
	cl := clustertest.Start(t, clustertest.Options{})
	var nodes []client.Node
	for _, n := range cl.Nodes() {
		nodes = append(nodes, client.Node{ID: n.ID, AZ: n.AZ, Addr: n.APIAddr()})
	}
	var mu sync.Mutex
	var failed []client.Attempt
	var served sync.Map // node id → batches served
	c, err := client.Dial(client.Config{Nodes: nodes, CAPEM: cl.CA.CertPEM, Batch: true, AttemptTimeout: time.Second,
		Dialer: cl.Net.Dialer(netsim.Endpoint{Name: "batch-client"}),
		Observe: func(a client.Attempt) {
			if a.Err != nil {
				// Which call meets the dead node first, a batch or a lone call, is up to timing:
				// both fail over the same way, through the interceptor.
				mu.Lock()
				failed = append(failed, a)
				mu.Unlock()
				return
			}
			if a.Method == "Batch" {
				v, _ := served.LoadOrStore(a.Node, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Login(ctx, clustertest.CryptoUser, clustertest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	k := makeBatchKeys(t, c)
	d := sha256.Sum256([]byte("failover"))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var calls, errs atomic.Int64
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := c.Sign(cctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, k.ecPriv, d[:])
				cancel()
				calls.Add(1)
				if err != nil {
					errs.Add(1)
					t.Errorf("sign while a node dies: %v", err)
					return
				}
			}
		}()
	}
	// Let batches flow to every node, then kill one that has served some.
	deadline := time.Now().Add(10 * time.Second)
	var victim *clustertest.Node
	for victim == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		for _, n := range cl.Nodes() {
			if v, ok := served.Load(n.ID); ok && v.(*atomic.Int64).Load() > 5 {
				victim = n
				break
			}
		}
	}
	if victim == nil {
		close(stop)
		wg.Wait()
		t.Fatal("no node served batches")
	}
	before := calls.Load()
	batchesBefore, _ := c.BatchStats()
	cl.Kill(victim)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d of %d calls failed", errs.Load(), calls.Load())
	}
	if calls.Load() <= before {
		t.Fatalf("no call succeeded after %s was killed", victim.ID)
	}
	mu.Lock()
	defer mu.Unlock()
	sawVictim := false
	for _, a := range failed {
		if a.Node == victim.ID || a.Node == victim.APIAddr() {
			sawVictim = true
		}
	}
	if !sawVictim {
		t.Errorf("no attempt failed on the killed node %s (failed attempts: %v)", victim.ID, failed)
	}
	if b, _ := c.BatchStats(); b <= batchesBefore {
		t.Error("no batch was served after the node died")
	}
}
