package netsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
)

var (
	hsmA   = netsim.Endpoint{Name: "hsm-a", AZ: "us-east-1a"}
	hsmA2  = netsim.Endpoint{Name: "hsm-a2", AZ: "us-east-1a"}
	hsmB   = netsim.Endpoint{Name: "hsm-b", AZ: "us-east-1b"}
	hsmC   = netsim.Endpoint{Name: "hsm-c", AZ: "us-east-1c"}
	client = netsim.Endpoint{Name: "client-1"}
)

// quiet is how long a test watches for bytes that must not arrive.
const quiet = 300 * time.Millisecond

// echoServer serves an echo on a fresh loopback port as ep and returns its address.
func echoServer(t *testing.T, n *netsim.Network, ep netsim.Endpoint) string {
	t.Helper()
	ln, err := n.Listen(ep, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(n *netsim.Network, from netsim.Endpoint, addr string, within time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return n.Dialer(from)(ctx, addr)
}

func mustDial(t *testing.T, n *netsim.Network, from netsim.Endpoint, addr string) net.Conn {
	t.Helper()
	c, err := dial(n, from, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// connPair returns both ends of one connection dialed by a to a listener of b.
func connPair(t *testing.T, n *netsim.Network, a, b netsim.Endpoint) (ac, bc net.Conn) {
	t.Helper()
	ln, err := n.Listen(b, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ac = mustDial(t, n, a, ln.Addr().String())
	select {
	case bc = <-accepted:
		t.Cleanup(func() { bc.Close() })
	case <-time.After(5 * time.Second):
		t.Fatal("accept timed out")
	}
	return ac, bc
}

// readWithin reads exactly want bytes from c or fails after d.
func readWithin(c net.Conn, want int, d time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	b := make([]byte, want)
	k, err := io.ReadFull(c, b)
	return b[:k], err
}

func expectRead(t *testing.T, c net.Conn, want string) {
	t.Helper()
	got, err := readWithin(c, len(want), 5*time.Second)
	if err != nil || string(got) != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

func expectNothing(t *testing.T, c net.Conn) {
	t.Helper()
	got, err := readWithin(c, 1, quiet)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read %q, %v; want nothing to arrive", got, err)
	}
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := c.Write([]byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func roundTrip(t *testing.T, c net.Conn, s string) time.Duration {
	t.Helper()
	start := time.Now()
	write(t, c, s)
	expectRead(t, c, s)
	return time.Since(start)
}

func TestDialAcrossPartitionIsBlackHoledUntilHeal(t *testing.T) {
	n := netsim.New(1)
	addr := echoServer(t, n, hsmB)
	n.Partition(hsmA.Name, hsmB.Name)

	start := time.Now()
	_, err := dial(n, hsmA, addr, quiet)
	if !errors.Is(err, netsim.ErrPartitioned) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial across partition: %v; want ErrPartitioned and DeadlineExceeded", err)
	}
	if el := time.Since(start); el < quiet-10*time.Millisecond {
		t.Fatalf("dial failed after %v; a black hole waits for the deadline (%v)", el, quiet)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial error %v is not a net.Error timeout", err)
	}

	n.Heal()
	c := mustDial(t, n, hsmA, addr)
	roundTrip(t, c, "after heal")
}

func TestDialInProgressConnectsWhenPartitionHeals(t *testing.T) {
	n := netsim.New(1)
	addr := echoServer(t, n, hsmB)
	n.Partition(hsmA.Name, hsmB.Name)
	time.AfterFunc(100*time.Millisecond, n.Heal)
	c, err := dial(n, hsmA, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial healed mid-way: %v", err)
	}
	defer c.Close()
	roundTrip(t, c, "late but fine")
}

func TestOneWayPartition(t *testing.T) {
	n := netsim.New(1)
	a, b := connPair(t, n, hsmA, hsmB)
	n.PartitionOneWay(hsmA.Name, hsmB.Name)

	write(t, a, "request")
	expectNothing(t, b) // A→B is cut
	write(t, b, "reply")
	expectRead(t, a, "reply") // B→A flows

	// A new connection needs both directions, so it is black-holed either way.
	addrA := echoServer(t, n, hsmA)
	if _, err := dial(n, hsmB, addrA, 100*time.Millisecond); !errors.Is(err, netsim.ErrPartitioned) {
		t.Fatalf("dial B→A under A→B partition: %v; want ErrPartitioned", err)
	}

	// The held request arrives after heal, and the connection carries on.
	n.HealPair(hsmA.Name, hsmB.Name)
	expectRead(t, b, "request")
	write(t, a, "more")
	expectRead(t, b, "more")
}

func TestEstablishedConnHoldsBytesDuringPartitionAndCarriesOnAfterHeal(t *testing.T) {
	n := netsim.New(1)
	c := mustDial(t, n, hsmA, echoServer(t, n, hsmB))
	roundTrip(t, c, "before")

	n.Partition(hsmA.Name, hsmB.Name)
	write(t, c, "during") // a write appears to succeed...
	expectNothing(t, c)   // ...but no echo comes back

	n.Heal()
	expectRead(t, c, "during") // held bytes are delivered, in order
	roundTrip(t, c, "after")
}

func TestHeldBytesResetTheConnAfterBreakTimeout(t *testing.T) {
	n := netsim.New(1)
	n.SetTiming(netsim.Timing{Break: 200 * time.Millisecond})
	a, b := connPair(t, n, hsmA, hsmB)
	n.Partition(hsmA.Name, hsmB.Name)
	write(t, a, "lost in the partition")

	if _, err := readWithin(a, 1, 5*time.Second); !errors.Is(err, netsim.ErrTimedOut) {
		t.Fatalf("sender read: %v; want ErrTimedOut", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, netsim.ErrTimedOut) {
		t.Fatalf("sender write after break: %v; want ErrTimedOut", err)
	}
	// The receiver never saw the bytes; it sees the reset.
	got, err := readWithin(b, 1, 5*time.Second)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || len(got) != 0 {
		t.Fatalf("receiver read %q, %v; want a connection error and no bytes", got, err)
	}
}

func TestIdleConnSurvivesPartition(t *testing.T) {
	n := netsim.New(1)
	n.SetTiming(netsim.Timing{Break: 100 * time.Millisecond})
	c := mustDial(t, n, hsmA, echoServer(t, n, hsmB))
	n.Partition(hsmA.Name, hsmB.Name)
	time.Sleep(300 * time.Millisecond) // nothing to retransmit, nothing breaks
	n.Heal()
	roundTrip(t, c, "still here")
}

func TestLatencyDelaysEachDirection(t *testing.T) {
	n := netsim.New(1)
	c := mustDial(t, n, hsmA, echoServer(t, n, hsmB))
	base := roundTrip(t, c, "warm")

	const lat = 50 * time.Millisecond
	n.SetLink(hsmA.Name, hsmB.Name, netsim.Link{Latency: lat})
	n.SetLink(hsmB.Name, hsmA.Name, netsim.Link{Latency: lat})
	rtt := roundTrip(t, c, "slow")
	if rtt < 2*lat {
		t.Fatalf("round trip %v over a %v link each way; want ≥ %v (baseline %v)", rtt, lat, 2*lat, base)
	}

	n.SetLink(hsmA.Name, hsmB.Name, netsim.Link{})
	n.SetLink(hsmB.Name, hsmA.Name, netsim.Link{})
	if fast := roundTrip(t, c, "fast again"); fast >= rtt {
		t.Fatalf("round trip %v after removing the link; want < %v", fast, rtt)
	}
}

func TestJitterAndLossKeepOrder(t *testing.T) {
	n := netsim.New(7)
	n.SetTiming(netsim.Timing{Retransmit: 5 * time.Millisecond})
	n.SetLink(hsmA.Name, hsmB.Name, netsim.Link{Latency: time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.3})
	c := mustDial(t, n, hsmA, echoServer(t, n, hsmB))
	var want bytes.Buffer
	for i := range 100 {
		s := fmt.Sprintf("%03d,", i)
		want.WriteString(s)
		write(t, c, s)
	}
	got, err := readWithin(c, want.Len(), 10*time.Second)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %q, %v; want %q", got, err, want.Bytes())
	}
}

func TestAZLinkAppliesWhereNoPairLinkDoes(t *testing.T) {
	n := netsim.New(1)
	const lat = 60 * time.Millisecond
	n.SetAZLink(hsmA.AZ, hsmB.AZ, netsim.Link{Latency: lat})
	c := mustDial(t, n, hsmA, echoServer(t, n, hsmB))
	if rtt := roundTrip(t, c, "x"); rtt < lat {
		t.Fatalf("round trip %v across an AZ link of %v", rtt, lat)
	}
	n.SetLink(hsmA.Name, hsmB.Name, netsim.Link{Latency: time.Microsecond}) // pair rule wins
	if rtt := roundTrip(t, c, "y"); rtt >= lat {
		t.Fatalf("round trip %v; the pair link should override the AZ link", rtt)
	}
}

func TestIsolateAZCutsCrossAZPairsOnly(t *testing.T) {
	n := netsim.New(1)
	addrs := map[string]string{}
	for _, ep := range []netsim.Endpoint{hsmA, hsmA2, hsmB, hsmC} {
		addrs[ep.Name] = echoServer(t, n, ep)
	}
	n.IsolateAZ(hsmA.AZ)

	cases := []struct {
		from, to netsim.Endpoint
		cut      bool
	}{
		{hsmA, hsmB, true},
		{hsmB, hsmA, true},
		{hsmA2, hsmC, true},
		{hsmC, hsmA2, true},
		{hsmA, hsmA2, false}, // same AZ
		{hsmB, hsmC, false},  // neither isolated
		{client, hsmA, false},
		{client, hsmB, false},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Go(func() {
			c, err := dial(n, tc.from, addrs[tc.to.Name], quiet)
			switch {
			case tc.cut && !errors.Is(err, netsim.ErrPartitioned):
				t.Errorf("%s→%s: dial %v; want ErrPartitioned", tc.from.Name, tc.to.Name, err)
			case !tc.cut && err != nil:
				t.Errorf("%s→%s: dial %v; want it to connect", tc.from.Name, tc.to.Name, err)
			case !tc.cut:
				defer c.Close()
				c.Write([]byte("ok"))
				if got, err := readWithin(c, 2, 5*time.Second); err != nil || string(got) != "ok" {
					t.Errorf("%s→%s: echo %q, %v", tc.from.Name, tc.to.Name, got, err)
				}
			}
		})
	}
	wg.Wait()

	n.Heal()
	c := mustDial(t, n, hsmA, addrs[hsmB.Name])
	roundTrip(t, c, "healed")
}

func TestListenerHoldsConnFromPartitionedDialerItDoesNotKnowAbout(t *testing.T) {
	// Two Networks stand for two processes; only the listener's knows the partition.
	dialerNet, listenerNet := netsim.New(1), netsim.New(2)
	addr := echoServer(t, listenerNet, hsmB)
	dialerNet.Register(addr, hsmB)
	listenerNet.Partition(hsmA.Name, hsmB.Name)

	c := mustDial(t, dialerNet, hsmA, addr) // the dialer's rules let it through
	write(t, c, "hello")
	expectNothing(t, c)
	listenerNet.Heal()
	expectRead(t, c, "hello")
}

func TestReceiverEnforcesPartitionTheSenderDoesNotKnow(t *testing.T) {
	dialerNet, listenerNet := netsim.New(1), netsim.New(2)
	addr := echoServer(t, listenerNet, hsmB)
	dialerNet.Register(addr, hsmB)
	c := mustDial(t, dialerNet, hsmA, addr)
	roundTrip(t, c, "before")

	dialerNet.PartitionOneWay(hsmB.Name, hsmA.Name) // only the receiving end knows
	write(t, c, "ping")
	expectNothing(t, c) // the echo reached A's socket but is held there
	dialerNet.Heal()
	expectRead(t, c, "ping")
}

func TestCloseConnsResetsBothEnds(t *testing.T) {
	n := netsim.New(1)
	a, b := connPair(t, n, hsmA, hsmB)
	other := mustDial(t, n, hsmC, echoServer(t, n, hsmA2))
	n.CloseConns(hsmB.Name)
	if _, err := readWithin(a, 1, 5*time.Second); !errors.Is(err, netsim.ErrReset) {
		t.Fatalf("dialer end: %v; want ErrReset", err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, netsim.ErrReset) {
		t.Fatalf("listener end: %v; want ErrReset", err)
	}
	roundTrip(t, other, "untouched")
}

func TestCloseDeliversQueuedBytes(t *testing.T) {
	n := netsim.New(1)
	n.SetLink(hsmA.Name, hsmB.Name, netsim.Link{Latency: 50 * time.Millisecond})
	a, b := connPair(t, n, hsmA, hsmB)
	write(t, a, "last words")
	a.Close()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "last words" {
		t.Fatalf("read %q, %v; want the queued bytes then EOF", got, err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v; want net.ErrClosed", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	n := netsim.New(1)
	a, _ := connPair(t, n, hsmA, hsmB)
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	a.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still blocked after Close")
	}
}

func TestWriteBlocksOnFullBufferUntilDeadline(t *testing.T) {
	n := netsim.New(1)
	a, _ := connPair(t, n, hsmA, hsmB)
	n.Partition(hsmA.Name, hsmB.Name)
	big := make([]byte, 3<<20)
	write(t, a, string(big)) // fits in the send buffer
	a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := a.Write(big); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write past a full buffer: %v; want a deadline error", err)
	}
}

// A client outside netsim (no preamble: the CLI, the PKCS#11 module, an SDK) is served as the
// External endpoint, its first bytes intact, and rules naming "external" apply to it.
func TestPlainClientIsServedAsExternal(t *testing.T) {
	n := netsim.New(1)
	n.SetTiming(netsim.Timing{Dial: 300 * time.Millisecond})
	ln, err := n.Listen(hsmB, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b := make([]byte, 18)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, _ := io.ReadFull(c, b)
			got <- string(b[:k])
			c.Close()
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	select {
	case s := <-got:
		if s != "GET / HTTP/1.0\r\n\r\n" {
			t.Fatalf("server read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("plain client never accepted")
	}

	n.Partition(netsim.External.Name, hsmB.Name)
	raw2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw2.Close()
	raw2.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	select {
	case s := <-got:
		t.Fatalf("a partitioned external client got through: %q", s)
	case <-time.After(700 * time.Millisecond):
	}
}

// A node of another process that this Network was never told about is still reachable, as an
// endpoint named by its address, and a rule naming that address cuts it off.
func TestDialUnregisteredAddress(t *testing.T) {
	other := netsim.New(2) // the other process
	ln, err := other.Listen(hsmB, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	n := netsim.New(1)
	addr := ln.Addr().String()
	c, err := dial(n, hsmA, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial an unregistered address: %v", err)
	}
	c.Close()
	n.Partition(hsmA.Name, addr)
	if _, err := dial(n, hsmA, addr, 300*time.Millisecond); !errors.Is(err, netsim.ErrPartitioned) {
		t.Fatalf("dial across a partition naming the address: %v", err)
	}
}

func TestLoopbackAliasesFindTheEndpoint(t *testing.T) {
	n := netsim.New(1)
	ln, err := n.Listen(hsmB, "tcp", ":0") // registers [::]:port
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	n.Partition(hsmA.Name, hsmB.Name)
	if _, err := dial(n, hsmA, net.JoinHostPort("localhost", port), 50*time.Millisecond); !errors.Is(err, netsim.ErrPartitioned) {
		t.Fatalf("dial localhost:%s: %v; want it known as %s and partitioned", port, err, hsmB.Name)
	}
}

func TestRulesJSONRoundTrip(t *testing.T) {
	n := netsim.New(1)
	n.Partition("hsm-b", "hsm-a")
	n.PartitionOneWay("hsm-c", "client-1")
	n.IsolateAZ("us-east-1c")
	n.SetLink("hsm-a", "hsm-b", netsim.Link{Latency: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.01})
	n.SetAZLink("us-east-1a", "us-east-1b", netsim.Link{Latency: 2 * time.Millisecond})
	rules := n.Rules()

	b, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"kind":"partition","from":"hsm-a","to":"hsm-b"},` +
		`{"kind":"partition-one-way","from":"hsm-c","to":"client-1"},` +
		`{"kind":"isolate-az","az":"us-east-1c"},` +
		`{"kind":"link","from":"hsm-a","to":"hsm-b","link":{"latency":"50ms","jitter":"5ms","loss":0.01}},` +
		`{"kind":"az-link","from":"us-east-1a","to":"us-east-1b","link":{"latency":"2ms"}}]`
	if string(b) != want {
		t.Fatalf("JSON:\n%s\nwant:\n%s", b, want)
	}

	var back []netsim.Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	m := netsim.New(2)
	for _, r := range back {
		if err := m.Apply(r); err != nil {
			t.Fatalf("apply %s: %v", r, err)
		}
	}
	if got := m.Rules(); !reflect.DeepEqual(got, rules) {
		t.Fatalf("rules after round trip:\n%v\nwant:\n%v", got, rules)
	}

	m.Clear()
	if got := m.Rules(); len(got) != 0 {
		t.Fatalf("rules after Clear: %v", got)
	}
}

func TestApplyRejectsMalformedRules(t *testing.T) {
	n := netsim.New(1)
	for _, js := range []string{
		`{"kind":"partition","from":"hsm-a"}`,
		`{"kind":"partition","from":"hsm-a","to":"hsm-a"}`,
		`{"kind":"isolate-az"}`,
		`{"kind":"isolate-az","az":"x","from":"hsm-a"}`,
		`{"kind":"link","from":"a","to":"b","link":{"loss":1.5}}`,
		`{"kind":"link","from":"a","to":"b","link":{"latency":"-1s"}}`,
		`{"kind":"flood","from":"a","to":"b"}`,
	} {
		var r netsim.Rule
		if err := json.Unmarshal([]byte(js), &r); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if err := n.Apply(r); !errors.Is(err, netsim.ErrInvalidRule) {
			t.Errorf("apply %s: %v; want ErrInvalidRule", js, err)
		}
	}
	if got := n.Rules(); len(got) != 0 {
		t.Fatalf("malformed rules changed the rule set: %v", got)
	}
	var r netsim.Rule
	if err := json.Unmarshal([]byte(`{"kind":"link","from":"a","to":"b","link":{"latency":"soon"}}`), &r); err == nil {
		t.Error("a bad duration parsed")
	}
}

func TestSettingAPartitionReplacesThePairsPartition(t *testing.T) {
	n := netsim.New(1)
	n.Partition("a", "b")
	n.PartitionOneWay("b", "a")
	want := []netsim.Rule{{Kind: netsim.KindPartitionOneWay, From: "b", To: "a"}}
	if got := n.Rules(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rules %v; want %v", got, want)
	}
	n.SetLink("a", "b", netsim.Link{Latency: time.Millisecond})
	n.HealPair("b", "a")
	if got := n.Rules(); len(got) != 0 {
		t.Fatalf("rules after HealPair: %v", got)
	}
}

// BenchmarkRoundTrip measures what the layer costs a small request/response with no rules.
func BenchmarkRoundTrip(b *testing.B) {
	n := netsim.New(1)
	ln, err := n.Listen(hsmB, "tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := dial(n, hsmA, ln.Addr().String(), 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	for b.Loop() {
		c.Write(msg)
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}
