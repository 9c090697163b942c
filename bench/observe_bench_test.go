package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/internal/metrics"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/trail"
)

// What observing costs (issue 14: metrics and audit logging under 5% of KMS Encrypt and ECDSA
// sign throughput at 16 clients, with and without, in the same run). Each benchmark runs b.N
// operations on each side, the sides taking turns (report), so load from elsewhere on a shared
// machine falls on both. It reports each side's operations per second and on/off, the observed
// side's rate over the plain one's (1 - on/off is the cost).

const observedClients = 16

// BenchmarkKMSObserved: Encrypt (default key store, 16 SDK clients) on two KMS servers in this
// process, one without an observer and one with the request metrics and the audit trail of
// `hsmsim up` (a trail written to a file, as there).
func BenchmarkKMSObserved(b *testing.B) {
	dir := b.TempDir()
	open := func(name string, obs awsapi.Observer) *awskms.Client {
		s, err := kms.Open(kms.Config{DataDir: filepath.Join(dir, name), NoSync: true, Observer: obs})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		url, err := s.Start("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		return kmsBenchClient(url)
	}
	tr, err := trail.Open(trail.Config{Dir: filepath.Join(dir, "on", "trail")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close() })
	api := metrics.NewAPI(prometheus.NewRegistry(), awsapi.KMS)
	sides := []*awskms.Client{open("off", nil), open("on", awsapi.Observers(api, tr))}
	ctx := context.Background()
	plain := make([]byte, 1024)
	var calls []func() error
	for _, c := range sides {
		k, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
		if err != nil {
			b.Fatal(err)
		}
		calls = append(calls, func() error {
			_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: plain})
			return err
		})
	}
	b.Run(fmt.Sprintf("Encrypt-%dclients", observedClients), func(b *testing.B) {
		report(b, calls)
	})
	if _, dropped := tr.Counts(); dropped > 0 {
		b.Logf("the trail dropped %d records", dropped)
	}
}

// BenchmarkNodeObserved: ECDSA P-256 sign through the node API from 16 clients, the node's
// RPC metrics (what `hsmsim up` and `hsmsim hsmd --metrics-listen` install) off and on by turns
// on the same node.
func BenchmarkNodeObserved(b *testing.B) {
	f := newFixture(b)
	obs := metrics.NewNodes(prometheus.NewRegistry()).For("bench")
	clients := f.clients(b, observedClients)
	digest := sha256.Sum256([]byte("benchmark message"))
	ctx := context.Background()
	next := make(chan int, observedClients) // each goroutine takes a client of its own while it calls
	for i := range clients {
		next <- i
	}
	sign := func() error {
		i := <-next
		defer func() { next <- i }()
		_, err := clients[i].Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, f.ec, digest[:])
		return err
	}
	calls := []func() error{sign, sign} // the same calls: only the observer differs
	b.Run(fmt.Sprintf("ECDSA-P256-sign-%dclients", observedClients), func(b *testing.B) {
		report(b, calls, func(side int) {
			if side == 1 {
				f.node.SetObserver(obs)
			} else {
				f.node.SetObserver(nil)
			}
		})
	})
}

// observedRounds is how many turns each side gets: many short ones, so that a burst of load
// from elsewhere (this machine is shared) falls on one round of both sides, not on one side.
const observedRounds = 50

// report runs b.N calls on each side (calls[0] off, calls[1] on) from observedClients
// goroutines, the sides taking turns in observedRounds slices, and reports each side's rate over
// the whole run and on/off: the median over the rounds of the observed side's rate over the
// plain side's in the same round, which a noisy neighbour moves less than the totals.
// before, when given, is told which side runs next, before its slice starts.
func report(b *testing.B, calls []func() error, before ...func(side int)) {
	b.Helper()
	b.ResetTimer()
	spent := make([]time.Duration, len(calls))
	cpu := make([]time.Duration, len(calls))
	var ratios []float64
	for r := 0; r < observedRounds; r++ {
		slice := b.N / observedRounds
		if r < b.N%observedRounds {
			slice++
		}
		if slice == 0 {
			continue
		}
		var round [2]time.Duration
		for j := range calls {
			i := (j + r) % len(calls)
			if len(before) > 0 {
				before[0](i)
			}
			start, cpu0 := time.Now(), cpuTime()
			if err := fanOut(observedClients, slice, calls[i]); err != nil {
				b.Fatal(err)
			}
			round[i] = time.Since(start)
			spent[i] += round[i]
			cpu[i] += cpuTime() - cpu0
		}
		ratios = append(ratios, round[0].Seconds()/round[1].Seconds())
	}
	b.StopTimer()
	sort.Float64s(ratios)
	b.ReportMetric(float64(b.N)/spent[0].Seconds(), "off-ops/s")
	b.ReportMetric(float64(b.N)/spent[1].Seconds(), "on-ops/s")
	b.ReportMetric(ratios[len(ratios)/2], "on/off")
	// CPU time this process spent per operation (clients, server and the trail's writer all run
	// here): what neighbours on a shared machine disturb least. At saturation the throughput is
	// the cores over it, so cpu-on/off above 1 is the cost.
	b.ReportMetric(float64(cpu[0].Microseconds())/float64(b.N), "off-cpu-µs/op")
	b.ReportMetric(float64(cpu[1].Microseconds())/float64(b.N), "on-cpu-µs/op")
	b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-on/off")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserveCost is what observing one request costs in CPU, apart from any request: a
// KMS Encrypt as the endpoint hands it to the request metrics and the audit trail (the trail's
// writer goroutine included: its queue holds every record, and the time runs until they are
// all written), and one node API call as the node hands it to its RPC metrics. Set against the
// CPU an Encrypt or a sign costs (off-cpu-µs/op above) it is the observation's share, without
// the noise of a throughput run.
func BenchmarkObserveCost(b *testing.B) {
	b.Run("kms-Encrypt", func(b *testing.B) {
		tr, err := trail.Open(trail.Config{Dir: b.TempDir(), Queue: b.N + 1})
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		obs := awsapi.Observers(metrics.NewAPI(prometheus.NewRegistry(), awsapi.KMS), tr)
		q := &awsapi.Request{Service: "kms", Operation: "Encrypt", RequestID: awsapi.NewUUID(), UserAgent: "aws-sdk-go-v2/1.48.0 os/linux lang/go#1.26",
			Caller: &awsapi.Caller{AccessKey: "AKIAHSMSIMBENCH00001", Region: "us-east-1", Account: "111122223333", SourceIP: "127.0.0.1"},
			Input: map[string]any{"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Plaintext": string(make([]byte, 1368)),
				"EncryptionContext": map[string]any{"purpose": "bench"}}}
		type encryptOut struct {
			CiphertextBlob      []byte
			KeyId               string
			EncryptionAlgorithm string
		}
		out := &encryptOut{CiphertextBlob: make([]byte, 1100), KeyId: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}
		b.ResetTimer()
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			obs.Observe(q, out, nil, 200, time.Millisecond)
		}
		tr.Sync()
		b.StopTimer()
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		if w, d := tr.Counts(); d != 0 || w != uint64(b.N) {
			b.Fatalf("%d records written, %d dropped, want %d and 0", w, d, b.N)
		}
	})
	b.Run("node-Sign", func(b *testing.B) {
		o := metrics.NewNodes(prometheus.NewRegistry()).For("bench")
		cpu0 := cpuTime()
		for i := 0; i < b.N; i++ {
			o.ObserveRPC("Sign", 0, time.Millisecond)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}
