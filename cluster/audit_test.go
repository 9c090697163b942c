package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/audit"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// replicatedLog reads a node's cluster audit events without the fields that are the node's own.
func replicatedLog(t testing.TB, n *clustertest.Node) []audit.Event {
	t.Helper()
	evs, err := audit.ReadFile(filepath.Join(n.Dir, audit.FileName))
	if err != nil {
		t.Fatalf("%s: %v", n, err)
	}
	for i, e := range evs {
		if e.HSM != n.ID || e.Scope != audit.ScopeCluster {
			t.Fatalf("%s: event %d is of %q, scope %q", n, e.Seq, e.HSM, e.Scope)
		}
		evs[i] = e.Replicated()
	}
	return evs
}

// waitAuditLogsEqual waits (bounded) until every running node's replicated audit log is the
// same, event for event, sequence numbers included, and returns it.
func waitAuditLogsEqual(t testing.TB, c *clustertest.Cluster) []audit.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		up := c.Up()
		first := replicatedLog(t, up[0])
		diff := ""
		for _, n := range up[1:] {
			if got := replicatedLog(t, n); !equalEvents(first, got) {
				diff = fmt.Sprintf("%s has %d events (last %v), %s has %d (last %v)", up[0], len(first), lastOf(first), n, len(got), lastOf(got))
				break
			}
		}
		if diff == "" {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit logs differ after 30s: %s", diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func equalEvents(a, b []audit.Event) bool {
	return slices.EqualFunc(a, b, func(x, y audit.Event) bool { return fmt.Sprint(x) == fmt.Sprint(y) })
}

func lastOf(evs []audit.Event) any {
	if len(evs) == 0 {
		return nil
	}
	return evs[len(evs)-1]
}

// opcodes lists the events' opcodes in order, with the user for user events.
func opcodes(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		s := e.Opcode
		if e.User != "" {
			s += ":" + e.User
		}
		out = append(out, s+":"+e.Response)
	}
	return out
}

func adminPool(t testing.TB, c *clustertest.Cluster) *clustertest.Pool {
	t.Helper()
	p := c.Pool(t)
	if err := p.Login(ctxT(t, 30*time.Second), token.AdminName, clustertest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	return p
}

func do(t testing.TB, p *clustertest.Pool, what string, fn func(context.Context, *client.Client) error) {
	t.Helper()
	ctx := client.WithRequestID(ctxT(t, 30*time.Second), client.NewRequestID())
	if _, err := p.Do(ctx, fn); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestAuditLogsAreTheSameOnEveryHSMAfterAFailover(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	adm := adminPool(t, c)
	alice := c.Alice(t)
	do(t, adm, "create bob", func(ctx context.Context, cl *client.Client) error {
		return cl.CreateUser(ctx, "bob", hsmpb.Role_ROLE_CRYPTO_USER, "bobpass123")
	})
	k1 := mustCreateKey(t, alice, "k1")
	do(t, alice, "share k1", func(ctx context.Context, cl *client.Client) error { return cl.ShareKey(ctx, k1, "bob", true) })
	wrong := c.Pool(t)
	if err := wrong.Login(ctxT(t, 30*time.Second), "bob", "not-his-password"); p11.Code(err) != p11.CKR_PIN_INCORRECT {
		t.Fatalf("wrong password: %v", err)
	}

	old := c.WaitLeader(t)
	c.Kill(old)
	if next := c.WaitLeader(t); next == old {
		t.Fatal("the killed node still leads")
	}
	do(t, alice, "unshare k1", func(ctx context.Context, cl *client.Client) error { return cl.ShareKey(ctx, k1, "bob", false) })
	do(t, alice, "label k1", func(ctx context.Context, cl *client.Client) error {
		return cl.SetAttributes(ctx, k1, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("renamed")}})
	})
	k2 := mustCreateKey(t, alice, "k2")
	do(t, alice, "destroy k2", func(ctx context.Context, cl *client.Client) error { return cl.DestroyObject(ctx, k2) })
	do(t, adm, "delete bob", func(ctx context.Context, cl *client.Client) error { return cl.DeleteUser(ctx, "bob") })
	c.Restart(t, old)
	c.AssertConverged(t)

	log := waitAuditLogsEqual(t, c)
	for i := 1; i < len(log); i++ {
		if log[i].Seq <= log[i-1].Seq {
			t.Fatalf("seq not increasing: %d after %d", log[i].Seq, log[i-1].Seq)
		}
	}
	// The story, in order, as every HSM tells it (leases renewed in between are not events).
	want := []string{
		"CN_CREATE_USER:bob:CKR_OK", "CN_GENERATE_KEY:CKR_OK", "CN_SHARE_OBJECT:bob:CKR_OK",
		"CN_LOGIN:bob:CKR_PIN_INCORRECT", "CN_SHARE_OBJECT:bob:CKR_OK", "CN_MODIFY_OBJECT:CKR_OK",
		"CN_GENERATE_KEY:CKR_OK", "CN_TOMBSTONE_OBJECT:CKR_OK", "CN_DELETE_USER:bob:CKR_OK",
	}
	got := opcodes(log)
	var story []string
	for _, g := range got {
		if slices.Contains(want, g) {
			story = append(story, g)
		}
	}
	if !slices.Equal(story, want) {
		t.Fatalf("events in order:\n got %v\nwant %v\n(all: %v)", story, want, got)
	}
	for _, must := range []string{"CN_INIT_TOKEN:CKR_OK", "CN_CHANGE_PSWD:admin:CKR_OK", "CN_CREATE_USER:alice:CKR_OK", "CN_LOGIN:alice:CKR_OK"} {
		if !slices.Contains(got, must) {
			t.Errorf("no %s in %v", must, got)
		}
	}
	members := 0
	for _, e := range log {
		if e.Opcode == audit.OpMemberAdd && e.Member != "" && e.AZ != "" {
			members++
		}
	}
	if members < 3 {
		t.Errorf("%d member additions recorded, want 3", members)
	}
	assertNoSecretInAudit(t, c, "bobpass123", "not-his-password", clustertest.CryptoPass, clustertest.AdminPassword)
}

func TestWipedHSMRejoinsWithTheSameAuditLog(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	alice := c.Alice(t)
	for i := range 20 {
		mustCreateKey(t, alice, fmt.Sprintf("a%d", i))
	}
	victim := c.Others(c.WaitLeader(t))[0]
	c.Wipe(t, victim)
	for i := range 100 {
		mustCreateKey(t, alice, fmt.Sprintf("b%d", i))
	}
	// Snapshots now, and the log compacted behind them: the victim can only catch up from a
	// snapshot, so its audit log comes from the snapshot's tail.
	for _, n := range c.Up() {
		if err := n.Member().Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	c.Rejoin(t, victim)
	mustCreateKey(t, alice, "after")
	c.AssertConverged(t)
	log := waitAuditLogsEqual(t, c)
	keys := 0
	for _, e := range log {
		if e.Opcode == audit.OpGenerateKey {
			keys++
		}
	}
	if keys != 121 {
		t.Fatalf("%d key events in the common log, want 121", keys)
	}
}

// assertNoSecretInAudit searches every node's audit files for the secrets.
func assertNoSecretInAudit(t testing.TB, c *clustertest.Cluster, secrets ...string) {
	t.Helper()
	for _, n := range c.Nodes() {
		for _, f := range []string{audit.FileName, audit.LocalFileName} {
			b, err := os.ReadFile(filepath.Join(n.Dir, f))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s/%s contains the secret %q", n, f, s)
				}
			}
		}
	}
}

func TestAuditRecordsALockoutLocallyRefusedLoginsAndTheUnlock(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 3})
	adm := adminPool(t, c)
	do(t, adm, "create bob", func(ctx context.Context, cl *client.Client) error {
		return cl.CreateUser(ctx, "bob", hsmpb.Role_ROLE_CRYPTO_USER, "bobpass123")
	})
	for range token.MaxFailedLogins {
		if err := c.Pool(t).Login(ctxT(t, 30*time.Second), "bob", "wrong-one"); p11.Code(err) != p11.CKR_PIN_INCORRECT {
			t.Fatalf("wrong password: %v", err)
		}
	}
	// Locked now: once every node knows it, the next attempt is refused by the node it reaches,
	// before the log. (A node that has not applied the lock yet proposes the attempt, and the
	// log refuses it: then it is a cluster event.)
	c.AssertConverged(t)
	refusing := c.Nodes()[1]
	if _, err := c.Pool(t).On(refusing).Login(ctxT(t, 10*time.Second), "bob", "bobpass123"); p11.Code(err) != p11.CKR_PIN_LOCKED {
		t.Fatalf("login of a locked user: %v", err)
	}
	do(t, adm, "reset bob", func(ctx context.Context, cl *client.Client) error { return cl.ChangePassword(ctx, "bob", "bobpass456") })
	c.AssertConverged(t)

	log := waitAuditLogsEqual(t, c)
	var fails, locks, unlocks int
	for _, e := range log {
		switch {
		case e.Opcode == audit.OpLogin && e.User == "bob" && e.Response == "CKR_PIN_INCORRECT":
			fails++
			if e.Locked {
				locks++
				if fails != token.MaxFailedLogins {
					t.Errorf("locked at failure %d", fails)
				}
			}
		case e.Opcode == audit.OpChangePassword && e.User == "bob":
			if !e.Unlocked || e.Actor != token.AdminName {
				t.Errorf("the reset: %+v", e)
			}
			unlocks++
		}
	}
	if fails != token.MaxFailedLogins || locks != 1 || unlocks != 1 {
		t.Fatalf("%d failed logins, %d locks, %d unlocks in %v", fails, locks, unlocks, opcodes(log))
	}
	for _, n := range c.Nodes() {
		local, err := audit.ReadFile(filepath.Join(n.Dir, audit.LocalFileName))
		if err != nil {
			t.Fatal(err)
		}
		refused := slices.ContainsFunc(local, func(e audit.Event) bool {
			return e.Opcode == audit.OpLogin && e.User == "bob" && e.Response == "CKR_PIN_LOCKED" && e.Scope == audit.ScopeHSM
		})
		if refused != (n == refusing) {
			t.Errorf("%s: local refusal recorded = %v", n, refused)
		}
	}
	assertNoSecretInAudit(t, c, "bobpass123", "bobpass456", "wrong-one")
}
