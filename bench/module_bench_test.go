package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"

	"github.com/miekg/pkcs11"
)

// sessionCounts are the concurrencies issue 4 asks for: one session, four, sixteen.
var sessionCounts = []int{1, 4, 16}

// keys are one peer's long-lived benchmark keys, token objects made once.
type keys struct {
	ec, rsa, aes pkcs11.ObjectHandle
}

var (
	keysMu sync.Mutex
	keysOf = map[*peer]*keys{}
)

// anchor keeps one logged-in session per peer open for the whole run, so the sessions each
// benchmark opens and closes share one login instead of logging in again every time.
var anchors sync.Map // *peer → pkcs11.SessionHandle

func (p *peer) keys(b *testing.B) *keys {
	b.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k := keysOf[p]; k != nil {
		return k
	}
	s, err := p.ctx.OpenSession(p.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		b.Fatalf("%s: C_OpenSession: %v", p.name, err)
	}
	if err := p.ctx.Login(s, pkcs11.CKU_USER, p.pin); err != nil {
		b.Fatalf("%s: C_Login: %v", p.name, err)
	}
	anchors.Store(p, s)
	k := &keys{}
	tok := pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)
	_, k.ec, err = p.ctx.GenerateKeyPair(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
		[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)},
		[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true)})
	if err != nil {
		b.Fatalf("%s: EC key pair: %v", p.name, err)
	}
	_, k.rsa, err = p.ctx.GenerateKeyPair(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
		[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)},
		[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true)})
	if err != nil {
		b.Fatalf("%s: RSA key pair: %v", p.name, err)
	}
	k.aes, err = p.ctx.GenerateKey(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, aesTemplate())
	if err != nil {
		b.Fatalf("%s: AES key: %v", p.name, err)
	}
	keysOf[p] = k
	return k
}

// aesTemplate is a 256-bit token AES key as a KMS-style application makes one.
func aesTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	}
}

// moduleOp builds, for one session, the operation a benchmark repeats. made collects handles
// the operation creates, for cleanup outside the timer.
type moduleOp func(p *peer, k *keys, s pkcs11.SessionHandle, worker int, made *handles) op

type handles struct {
	mu sync.Mutex
	hs []pkcs11.ObjectHandle
}

func (h *handles) add(o pkcs11.ObjectHandle) {
	h.mu.Lock()
	h.hs = append(h.hs, o)
	h.mu.Unlock()
}

// moduleKinds are the four operations of issue 4, each as the same miekg/pkcs11 calls on both
// modules.
func moduleKinds() []struct {
	name string
	op   moduleOp
} {
	digest := sha256.Sum256([]byte("benchmark message"))
	msg := make([]byte, 64)
	plain := make([]byte, 1024)
	return []struct {
		name string
		op   moduleOp
	}{
		{"ECDSA-P256-sign", func(p *peer, k *keys, s pkcs11.SessionHandle, _ int, _ *handles) op {
			m := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
			return func() error {
				if err := p.ctx.SignInit(s, m, k.ec); err != nil {
					return err
				}
				_, err := p.ctx.Sign(s, digest[:])
				return err
			}
		}},
		{"RSA2048-SHA256-sign", func(p *peer, k *keys, s pkcs11.SessionHandle, _ int, _ *handles) op {
			m := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil)}
			return func() error {
				if err := p.ctx.SignInit(s, m, k.rsa); err != nil {
					return err
				}
				_, err := p.ctx.Sign(s, msg)
				return err
			}
		}},
		{"AES256-GCM-1KiB-encrypt", func(p *peer, k *keys, s pkcs11.SessionHandle, worker int, _ *handles) op {
			// A fresh 96-bit IV per call: worker id and a counter, as an application would do
			// to never repeat an IV under one key.
			iv := make([]byte, 12)
			binary.BigEndian.PutUint32(iv, uint32(worker))
			var n uint64
			return func() error {
				n++
				binary.BigEndian.PutUint64(iv[4:], n)
				gp := pkcs11.NewGCMParams(iv, nil, 128)
				defer gp.Free()
				if err := p.ctx.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, gp)}, k.aes); err != nil {
					return err
				}
				_, err := p.ctx.Encrypt(s, plain)
				return err
			}
		}},
		{"AES256-token-keygen", func(p *peer, k *keys, s pkcs11.SessionHandle, _ int, made *handles) op {
			m := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
			t := aesTemplate()
			return func() error {
				h, err := p.ctx.GenerateKey(s, m, t)
				if err == nil {
					made.add(h)
				}
				return err
			}
		}},
	}
}

// results collects ops/s per benchmark for the ratio metric and the summary table.
var results sync.Map // "kind/sessions=n/peer" → float64

// BenchmarkModuleVsSoftHSM runs the same miekg/pkcs11 client code against libhsmsim-pkcs11.so
// (talking to a 3-HSM `hsmsim up` in another process) and against SoftHSM v2, one after the
// other for each operation and session count, so the hsmsim run reports its ratio to the
// SoftHSM run just before it (x-softhsm: above 1 is faster than SoftHSM).
func BenchmarkModuleVsSoftHSM(b *testing.B) {
	hs, soft := peers(b)
	for _, k := range moduleKinds() {
		for _, n := range sessionCounts {
			for _, p := range []*peer{soft, hs} {
				name := fmt.Sprintf("%s/sessions=%d/%s", k.name, n, p.name)
				b.Run(fmt.Sprintf("%s/sessions=%d/%s", k.name, n, p.name), func(b *testing.B) {
					keys := p.keys(b)
					ss := p.sessions(b, n)
					made := &handles{}
					ops := make([]op, n)
					for i, s := range ss {
						ops[i] = k.op(p, keys, s, i, made)
					}
					runClients(b, ops)
					rate := float64(b.N) / b.Elapsed().Seconds()
					results.Store(name, rate)
					if p == hs {
						if v, ok := results.Load(fmt.Sprintf("%s/sessions=%d/%s", k.name, n, soft.name)); ok {
							b.ReportMetric(rate/v.(float64), "x-softhsm")
						}
					}
					destroy(b, p, ss[0], made)
				})
			}
		}
	}
	printSummary()
}

// destroy removes the keys a key-generation run made, outside the timer, so every run starts
// from the same token size.
func destroy(b *testing.B, p *peer, s pkcs11.SessionHandle, made *handles) {
	for _, h := range made.hs {
		if err := p.ctx.DestroyObject(s, h); err != nil {
			b.Logf("%s: destroying key %d: %v", p.name, h, err)
		}
	}
}

var summaryOnce atomic.Bool

// printSummary prints the side-by-side table once: ops/s of each peer and their ratio.
func printSummary() {
	if !summaryOnce.CompareAndSwap(false, true) {
		return
	}
	type row struct {
		kind     string
		sessions int
		hs, soft float64
	}
	rows := map[string]*row{}
	results.Range(func(key, value any) bool {
		parts := strings.Split(key.(string), "/")
		var n int
		fmt.Sscanf(parts[1], "sessions=%d", &n)
		id := parts[0] + "/" + parts[1]
		r := rows[id]
		if r == nil {
			r = &row{kind: parts[0], sessions: n}
			rows[id] = r
		}
		if parts[2] == "hsmsim" {
			r.hs = value.(float64)
		} else {
			r.soft = value.(float64)
		}
		return true
	})
	order := map[string]int{}
	for i, k := range moduleKinds() {
		order[k.name] = i
	}
	list := make([]*row, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].kind != list[j].kind {
			return order[list[i].kind] < order[list[j].kind]
		}
		return list[i].sessions < list[j].sessions
	})
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "operation\tsessions\thsmsim ops/s\tSoftHSM ops/s\thsmsim/SoftHSM\t")
	for _, r := range list {
		ratio := 0.0
		if r.soft > 0 {
			ratio = r.hs / r.soft
		}
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%.2f\t\n", r.kind, r.sessions, r.hs, r.soft, ratio)
	}
	w.Flush()
}
