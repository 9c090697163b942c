package faultctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/internal/ports"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// up starts the stack as hsmsim up does (internal/embedded), with the KMS on a free port.
func up(t *testing.T) *embedded.Cluster {
	t.Helper()
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := embedded.Up(ctx, embedded.Options{DataDir: t.TempDir(), BasePort: base, KMSListen: "127.0.0.1:0", NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func sdk(c *embedded.Cluster) *awskms.Client {
	return awskms.New(awskms.Options{Region: c.State.Region, BaseEndpoint: aws.String(c.State.KMSURL), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(c.State.AccessKeyID, c.State.SecretKey, "")})
}

func encrypt(kc *awskms.Client, key string) error {
	_, err := kc.Encrypt(context.Background(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	return err
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// api calls the fault API with plain HTTP, as a test suite in any language would.
func api(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, url+faultctl.Path, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestThrottleOneKeyUntilExpiry is issue 13's first "done when": on a stack started as hsmsim
// up, a ThrottlingException fault for one key switched on through the HTTP API; the SDK with
// retries off gets it for that key only, and the fault ends at its expiry.
func TestThrottleOneKeyUntilExpiry(t *testing.T) {
	c := up(t)
	kc := sdk(c)
	var keys []string
	for range 2 {
		out, err := kc.CreateKey(context.Background(), &awskms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, aws.ToString(out.KeyMetadata.KeyId))
	}
	var in struct{ ID, Action, Error string }
	if st := api(t, http.MethodPost, c.State.KMSURL, map[string]any{"error": "ThrottlingException", "keys": []string{keys[0]}, "for": "2s"}, &in); st != http.StatusCreated || in.ID == "" {
		t.Fatalf("POST: %d %+v", st, in)
	}
	if got := code(encrypt(kc, keys[0])); got != "ThrottlingException" {
		t.Fatalf("the key under the fault: %q, want ThrottlingException", got)
	}
	if err := encrypt(kc, keys[1]); err != nil {
		t.Fatalf("another key: %v", err)
	}
	var l faultctl.Listing
	if api(t, http.MethodGet, c.State.KMSURL, nil, &l); len(l.API) != 1 || l.API[0].ID != in.ID || l.API[0].Hits != 1 {
		t.Fatalf("listing %+v", l)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code(encrypt(kc, keys[0])) == "ThrottlingException" {
		if time.Now().After(deadline) {
			t.Fatal("the fault outlived its expiry")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := encrypt(kc, keys[0]); err != nil {
		t.Fatalf("after the expiry: %v", err)
	}
	if api(t, http.MethodGet, c.State.KMSURL, nil, &l); len(l.API) != 0 {
		t.Fatalf("still listed after the expiry: %+v", l)
	}
	// Bad rules are refused with the reason; unknown paths under the prefix are not AWS's.
	var e struct{ Error string }
	if st := api(t, http.MethodPost, c.State.KMSURL, map[string]any{"action": "explode"}, &e); st != http.StatusBadRequest || e.Error == "" {
		t.Fatalf("a bad rule: %d %q", st, e.Error)
	}
	if st := api(t, http.MethodPost, c.State.KMSURL, map[string]any{"error": "ThrottlingException", "colour": "red"}, &e); st != http.StatusBadRequest {
		t.Fatalf("an unknown field: %d", st)
	}
}

// TestHSMFaultsLive: a kill through the API takes an HSM down until its expiry; clear ends
// every fault at once.
func TestHSMFaultsLive(t *testing.T) {
	c := up(t)
	cl := &faultctl.Client{URL: c.State.KMSURL}
	running := func() int { return len(c.Service.Members(c.State.ClusterID)) }
	f, err := cl.AddHSM(faultctl.HSMFault{Do: "kill", Node: "n1", For: fault.Duration(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if f.ID == "" || len(f.Acted) != 1 || f.Acted[0] != "n1" || running() != 2 {
		t.Fatalf("after kill: %+v, %d HSMs running", f, running())
	}
	for deadline := time.Now().Add(30 * time.Second); running() != 3; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("n1 did not come back at the fault's expiry")
		}
	}
	// A pause cuts the HSM from every endpoint (its peers, the KMS, external clients) until its
	// expiry; a wipe takes one down and has it rejoin, emptied, at its expiry.
	if _, err := cl.AddHSM(faultctl.HSMFault{Do: "pause", Node: "n2", For: fault.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if len(c.Net.Rules()) == 0 {
		t.Fatal("pause put no network rule in force")
	}
	if _, err := cl.AddHSM(faultctl.HSMFault{Do: "wipe", Node: "n3", For: fault.Duration(time.Second)}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); running() != 3 || len(c.Net.Rules()) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after the pause and the wipe expired: %d HSMs running, rules %v", running(), c.Net.Rules())
		}
	}
	if _, err := cl.AddHSM(faultctl.HSMFault{Do: "kill", Node: "n9"}); err == nil {
		t.Fatal("a kill of a node the cluster does not have was accepted")
	}
	if _, err := cl.AddHSM(faultctl.HSMFault{Do: "isolate-az", AZ: "us-east-1a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.AddRule(fault.Rule{Action: fault.ActReset, Operations: []string{"Sign"}}); err != nil {
		t.Fatal(err)
	}
	if l, err := cl.List(); err != nil || len(l.HSM) != 1 || len(l.API) != 1 {
		t.Fatalf("list: %+v %v", l, err)
	}
	if n, err := cl.Clear(); err != nil || n != 2 {
		t.Fatalf("clear: %d %v", n, err)
	}
	if rules := c.Net.Rules(); len(rules) != 0 {
		t.Fatalf("network rules left after clear: %v", rules)
	}
}
