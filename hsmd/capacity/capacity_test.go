package capacity

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

func rsaKey(bits int) *mech.Key {
	mod := make([]byte, bits/8)
	mod[0] = 0xc1
	return &mech.Key{Attrs: attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA), p11.CKA_MODULUS: mod}}
}

func ecKey(params []byte) *mech.Key {
	return &mech.Key{Attrs: attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC), p11.CKA_EC_PARAMS: params}}
}

var p384 = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}

func TestOnlyThePublishedOperationsHaveAClass(t *testing.T) {
	aes := &mech.Key{Attrs: attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}}
	for _, c := range []struct {
		name string
		op   string
		key  *mech.Key
		want Class
	}{
		{"RSA-2048 sign", "Sign", rsaKey(2048), RSA2048Sign},
		{"RSA-3072 sign", "Sign", rsaKey(3072), ""},
		{"RSA-2048 decrypt", "Decrypt", rsaKey(2048), ""},
		{"P-256 sign", "Sign", ecKey(p256), ECP256Sign},
		{"P-384 sign", "Sign", ecKey(p384), ""},
		{"AES", "Sign", aes, ""},
	} {
		got, ok := Classify(c.op, c.key)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("%s: class %q (%v), want %q", c.name, got, ok, c.want)
		}
	}
}

func TestEveryHSMTypeHasThePublishedRates(t *testing.T) {
	// Half of the two-HSM cluster figures of AWS's performance page.
	want := map[string][2]float64{HSM1Medium: {1000, 250}, HSM2mMedium: {1000, 1500}}
	for typ, w := range want {
		if r := Rates[typ]; r[RSA2048Sign] != w[0] || r[ECP256Sign] != w[1] {
			t.Errorf("%s: %v, want RSA-2048 %v/s and P-256 %v/s", typ, r, w[0], w[1])
		}
	}
	if _, err := NewLimiter("hsm3.large"); err == nil {
		t.Error("a limiter for an HSM type without published rates")
	}
	if CheckProfile("cloudhsm") != nil || CheckProfile("") != nil || CheckProfile("fast") == nil {
		t.Error("CheckProfile accepts the wrong profiles")
	}
}

// A burst far above the rate: the HSM queues what it can serve within QueueTime and refuses
// the rest as busy, with CloudHSM's CKR_FUNCTION_FAILED and the busy reason.
func TestAnHSMQueuesUpToItsBoundAndRefusesTheRestAsBusy(t *testing.T) {
	l, err := NewLimiter(HSM1Medium) // P-256 sign: 250/s
	if err != nil {
		t.Fatal(err)
	}
	const callers = 200
	var mu sync.Mutex
	admitted, busy := 0, 0
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Admit(context.Background(), "Sign", ecKey(p256))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case p11.Code(err) == p11.CKR_FUNCTION_FAILED && p11.Reason(err) == p11.ReasonHSMBusy:
				busy++
			default:
				t.Errorf("Admit: %v", err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	// At most one at once, then one per 4 ms for QueueTime, plus what the time spent starting
	// the callers let through.
	most := 1 + int((QueueTime+took).Seconds()*250) + 1
	if admitted+busy != callers || busy == 0 || admitted > most || admitted < int(QueueTime.Seconds()*250) {
		t.Fatalf("%d admitted and %d busy in %v, want %d..%d admitted and the rest busy", admitted, busy, took, int(QueueTime.Seconds()*250), most)
	}
}

func TestACallerThatGivesUpLeavesTheQueue(t *testing.T) {
	l, err := NewLimiter(HSM1Medium)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 { // 120 ms of queue
		go func() { _ = l.Admit(context.Background(), "Sign", ecKey(p256)) }()
	}
	time.Sleep(10 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Admit(ctx, "Sign", ecKey(p256)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Admit after the caller's deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := l.Admit(context.Background(), "Sign", rsaKey(4096)); err != nil {
		t.Fatalf("an operation without a published rate waited: %v", err)
	}
}

// BenchmarkAdmitUnclassified is the cost the profile adds to an operation AWS publishes no rate
// for; a node without a limiter pays one atomic load (hsmd/server's BenchmarkAdmitWithoutProfile).
func BenchmarkAdmitUnclassified(b *testing.B) {
	l, _ := NewLimiter(HSM2mMedium)
	k := rsaKey(4096)
	for b.Loop() {
		_ = l.Admit(context.Background(), "Sign", k)
	}
}
