package benchcmd

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/benchrun"
	"github.com/hsmsim/hsmsim/kms"
)

// `hsmsim bench kms --json` against hsmsim's KMS: one result per operation and concurrency, none
// failed; a bad --concurrency is refused before anything runs.
func TestBenchKMSCommand(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	srv, err := kms.Open(kms.Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out, errs bytes.Buffer
	app := &cli.App{Name: "hsmsim", Commands: []*cli.Command{Command()}, Writer: &out, ErrWriter: &errs}
	args := []string{"hsmsim", "bench", "kms", "--endpoint", url, "--ops", "encrypt,gdk", "--concurrency", "1,2", "--duration", "100ms", "--json"}
	if err := app.Run(args); err != nil {
		t.Fatal(err)
	}
	var got struct{ Results []benchrun.Result }
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if len(got.Results) != 4 {
		t.Fatalf("%d results, want 2 operations × 2 concurrencies", len(got.Results))
	}
	for _, r := range got.Results {
		if r.Ops == 0 || r.Errors != 0 || r.Target != url {
			t.Fatalf("%+v", r)
		}
	}
	if !strings.Contains(errs.String(), "ops") {
		t.Fatalf("no progress line on stderr: %q", errs.String())
	}
	err = app.Run([]string{"hsmsim", "bench", "kms", "--endpoint", url, "--concurrency", "1,zero"})
	if err == nil || !strings.Contains(err.Error(), "positive whole numbers") {
		t.Fatalf("a bad --concurrency: %v", err)
	}
}

// --config and --compare-config let two builds of hsmsim's module each run against its own
// cluster in one run: the module reads HSMSIM_PKCS11_CONFIG at C_Initialize, so each open sees
// its own value, and the caller's environment is as it was afterwards.
func TestWithConfigSetsTheModulesConfigForOneOpen(t *testing.T) {
	t.Setenv(configEnv, "outer.json")
	var seen string
	err := withConfig("first.json", func() error { seen = os.Getenv(configEnv); return nil })
	if err != nil || seen != "first.json" {
		t.Fatalf("during the open: %s=%q (err %v), want first.json", configEnv, seen, err)
	}
	if got := os.Getenv(configEnv); got != "outer.json" {
		t.Fatalf("after the open: %s=%q, want the caller's outer.json back", configEnv, got)
	}
	_ = withConfig("", func() error { seen = os.Getenv(configEnv); return nil })
	if seen != "outer.json" {
		t.Fatalf("no --config: %s=%q, want the environment's own outer.json", configEnv, seen)
	}
}
