package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// TestFaultCommand is issue 13's first "done when" through the CLI: "hsmsim up" as a process,
// "hsmsim fault add" throttles one key for an aws-sdk-go-v2 client with retries off, the other
// key works, "hsmsim fault list" shows the fault, and it ends at its expiry; an HSM kill and
// "hsmsim fault clear" too.
func TestFaultCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hsmsim up")
	}
	bin := buildCLI(t)
	dir := startUp(t, bin)
	vars := hsmsimEnv(t, bin, dir)
	kc := awskms.New(awskms.Options{Region: vars["AWS_REGION"], BaseEndpoint: aws.String(vars["AWS_ENDPOINT_URL_KMS"]), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(vars["AWS_ACCESS_KEY_ID"], vars["AWS_SECRET_ACCESS_KEY"], "")})
	ctx := context.Background()
	var keys []string
	for range 2 {
		out, err := kc.CreateKey(ctx, &awskms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(out.KeyMetadata.KeyId))
	}
	fault := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"fault", args[0], "--data-dir", dir}, args[1:]...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("hsmsim fault %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	throttled := func(key string) bool {
		_, err := kc.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
		var ae smithy.APIError
		if err != nil && !(errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException") {
			t.Fatalf("Encrypt: %v", err)
		}
		return err != nil
	}
	out := fault("add", "--error", "ThrottlingException", "--operation", "Encrypt", "--key", keys[0], "--for", "3s")
	if !strings.HasPrefix(out, "api-1 ") {
		t.Fatalf("fault add: %q", out)
	}
	if !throttled(keys[0]) || throttled(keys[1]) {
		t.Fatal("want ThrottlingException for the first key only")
	}
	if out := fault("list"); !strings.Contains(out, "api-1") || !strings.Contains(out, "ThrottlingException (400)") {
		t.Fatalf("fault list:\n%s", out)
	}
	for deadline := time.Now().Add(10 * time.Second); throttled(keys[0]); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fault outlived its expiry")
		}
	}
	if out := fault("list"); strings.Contains(out, "api-1") {
		t.Fatalf("expired fault still listed:\n%s", out)
	}

	if out := fault("add", "--do", "kill", "--node", "n2", "--for", "30s"); !strings.Contains(out, "kill n2") {
		t.Fatalf("fault add --do kill: %q", out)
	}
	fault("add", "--latency", "uniform:10ms,20ms", "--service", "kms")
	fault("add", "--json", `{"do":"link","between":["us-east-1a","us-east-1c"],"latency":"5ms"}`)
	if out, err := exec.Command(bin, "fault", "add", "--data-dir", dir, "--json", `{"do":"kill","node":"n1","colour":"red"}`).CombinedOutput(); err == nil {
		t.Fatalf("an unknown field was accepted: %s", out)
	}
	if out := fault("clear"); !strings.Contains(out, "cleared 3 faults") {
		t.Fatalf("fault clear: %q", out)
	}
	if out := fault("list"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("faults left after clear:\n%s", out)
	}
}
