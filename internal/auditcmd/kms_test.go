package auditcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/trail"
)

func request(op, key string) *awsapi.Request {
	return &awsapi.Request{Service: "kms", Operation: op, RequestID: awsapi.NewUUID(),
		Caller: &awsapi.Caller{AccessKey: "AKIATEST", Region: "us-east-1", Account: "111122223333", SourceIP: "127.0.0.1"},
		Input:  map[string]any{"KeyId": key}}
}

// runKMSAudit runs `audit kms ARGS` and returns what it printed.
func runKMSAudit(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	app := &cli.App{Name: "hsmsim", Writer: &out, Commands: []*cli.Command{{Name: "audit", Subcommands: []*cli.Command{KMSCommand()}}}}
	if err := app.RunContext(ctx, append([]string{"hsmsim", "audit", "kms"}, args...)); err != nil {
		t.Error(err) // not Fatal: --follow runs it on another goroutine
	}
	return out.String()
}

// TestAuditKMSFilters: the records of a trail, filtered by operation, by failure and by time,
// as lines or JSON; --follow prints a record written after it started.
func TestAuditKMSFilters(t *testing.T) {
	dir := t.TempDir()
	tr, err := trail.Open(trail.Config{Dir: embedded.TrailDir(dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const key = "1234abcd-12ab-34cd-56ef-1234567890ab"
	tr.Observe(request("Encrypt", key), nil, nil, 200, time.Millisecond)
	tr.Observe(request("Decrypt", key), nil, nil, 200, 2*time.Millisecond)
	tr.Observe(request("Encrypt", "alias/none"), nil, awsapi.NewError("NotFoundException", "Alias alias/none is not found."), 400, time.Millisecond)
	tr.Sync()
	ctx := context.Background()
	d := "--data-dir=" + dir

	all := runKMSAudit(t, ctx, d)
	if n := strings.Count(all, "\n"); n != 3 || !strings.Contains(all, "arn:aws:kms:us-east-1:111122223333:key/"+key) ||
		!strings.Contains(all, "arn:aws:iam::111122223333:root") {
		t.Fatalf("all records:\n%s", all)
	}
	if got := runKMSAudit(t, ctx, d, "--event-name", "Decrypt"); strings.Count(got, "\n") != 1 || !strings.Contains(got, "Decrypt") {
		t.Errorf("--event-name Decrypt:\n%s", got)
	}
	if got := runKMSAudit(t, ctx, d, "--event-name", "Decrypt,Encrypt"); strings.Count(got, "\n") != 3 {
		t.Errorf("--event-name Decrypt,Encrypt:\n%s", got)
	}
	errs := runKMSAudit(t, ctx, d, "--error-only", "--json")
	var r trail.Record
	if strings.Count(errs, "\n") != 1 || json.Unmarshal([]byte(errs), &r) != nil || r.ErrorCode != "NotFoundException" || r.EventName != "Encrypt" {
		t.Errorf("--error-only --json:\n%s", errs)
	}
	if got := runKMSAudit(t, ctx, d, "--since", "1h"); strings.Count(got, "\n") != 3 {
		t.Errorf("--since 1h:\n%s", got)
	}
	if got := runKMSAudit(t, ctx, d, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)); got != "" {
		t.Errorf("--since in an hour:\n%s", got)
	}

	fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	done := make(chan string)
	go func() { done <- runKMSAudit(t, fctx, d, "--follow", "--event-name", "GenerateRandom") }()
	time.Sleep(300 * time.Millisecond)
	tr.Observe(request("GenerateRandom", ""), nil, nil, 200, time.Millisecond)
	tr.Sync()
	if got := <-done; strings.Count(got, "\n") != 1 || !strings.Contains(got, "GenerateRandom") {
		t.Errorf("--follow:\n%s", got)
	}
}
