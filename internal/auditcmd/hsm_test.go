package auditcmd

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/audit"
)

// twoHSMs writes the audit logs of two HSMs under one data directory, as hsmsim up lays them
// out (a level of directories above each HSM's), at known times.
func twoHSMs(t *testing.T) (string, time.Time) {
	t.Helper()
	root := t.TempDir()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"hsm-a", "hsm-b"} {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l, err := audit.Open(filepath.Join(root, "service", "clusters", "c1", id), audit.Options{HSM: id, NoSync: true,
			Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		l.Record([]audit.Event{{Seq: 4, Opcode: audit.OpCreateUser, Actor: "admin", User: "bob", Response: "CKR_OK"}})
		now = now.Add(time.Hour) // the clock moves for what follows: the login and a local event
		l.Record([]audit.Event{{Seq: 7, Opcode: audit.OpLogin, User: "bob", Response: "CKR_PIN_INCORRECT"}})
		if id == "hsm-b" {
			l.RecordLocal(audit.Event{Opcode: audit.OpLogin, User: "carol", Response: "CKR_PIN_INCORRECT"})
		}
		l.Close()
	}
	return root, t0
}

func runAudit(t *testing.T, args ...string) []audit.Event {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Writer: &out, Commands: []*cli.Command{Command()}}
	if err := app.Run(append([]string{"hsmsim", "audit"}, args...)); err != nil {
		t.Fatalf("audit %v: %v", args, err)
	}
	var evs []audit.Event
	dec := json.NewDecoder(&out)
	for dec.More() {
		var e audit.Event
		if err := dec.Decode(&e); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	return evs
}

func summary(evs []audit.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.HSM+"/"+e.Scope+"/"+e.Opcode+"/"+e.User)
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	root, t0 := twoHSMs(t)
	for _, c := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"hsm-a/cluster/CN_CREATE_USER/bob", "hsm-b/cluster/CN_CREATE_USER/bob",
			"hsm-a/cluster/CN_LOGIN/bob", "hsm-b/cluster/CN_LOGIN/bob", "hsm-b/hsm/CN_LOGIN/carol"}},
		{[]string{"--hsm", "hsm-a"}, []string{"hsm-a/cluster/CN_CREATE_USER/bob", "hsm-a/cluster/CN_LOGIN/bob"}},
		{[]string{"--user", "carol"}, []string{"hsm-b/hsm/CN_LOGIN/carol"}},
		{[]string{"--user", "admin", "--hsm", "hsm-b"}, []string{"hsm-b/cluster/CN_CREATE_USER/bob"}},
		{[]string{"--event", "login", "--user", "bob"}, []string{"hsm-a/cluster/CN_LOGIN/bob", "hsm-b/cluster/CN_LOGIN/bob"}},
		{[]string{"--since", t0.Add(30 * time.Minute).Format(time.RFC3339)}, []string{"hsm-a/cluster/CN_LOGIN/bob", "hsm-b/cluster/CN_LOGIN/bob", "hsm-b/hsm/CN_LOGIN/carol"}},
	} {
		got := summary(runAudit(t, append([]string{"--data-dir", root}, c.args...)...))
		if !slices.Equal(got, c.want) {
			t.Errorf("audit %v:\n got %v\nwant %v", c.args, got, c.want)
		}
	}
	// --node reads one HSM's directory.
	got := summary(runAudit(t, "--node", filepath.Join(root, "service", "clusters", "c1", "hsm-b"), "--event", "CN_CREATE_USER"))
	if !slices.Equal(got, []string{"hsm-b/cluster/CN_CREATE_USER/bob"}) {
		t.Errorf("--node: %v", got)
	}
}

func TestAuditSinceTakesADurationBackFromNow(t *testing.T) {
	root, _ := twoHSMs(t)
	now := time.Date(2026, 3, 1, 13, 30, 0, 0, time.UTC)
	var f audit.Filter
	app := &cli.App{Commands: []*cli.Command{{Name: "audit", Flags: Command().Flags, Action: func(c *cli.Context) error {
		var err error
		f, err = filterOf(c, now)
		return err
	}}}}
	if err := app.Run([]string{"hsmsim", "audit", "--data-dir", root, "--since", "45m"}); err != nil {
		t.Fatal(err)
	}
	if !f.Since.Equal(now.Add(-45 * time.Minute)) {
		t.Fatalf("since = %v", f.Since)
	}
	if err := app.Run([]string{"hsmsim", "audit", "--since", "yesterday"}); err == nil {
		t.Fatal("--since yesterday accepted")
	}
}
