package trail

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

func encrypt(key string) *awsapi.Request {
	return &awsapi.Request{Service: "kms", Operation: "Encrypt", RequestID: awsapi.NewUUID(),
		Caller: &awsapi.Caller{AccessKey: "AKIAUSER", Region: "eu-west-1", Account: "444455556666", SourceIP: "10.0.0.1",
			Principal: policy.UserPrincipal("444455556666", "/", "app", "AIDAEXAMPLE", nil)},
		Input: map[string]any{"KeyId": key, "Plaintext": "c2VjcmV0"}}
}

// TestTrailRotatesAndKeepsTheLastFiles: a trail whose files hold a few records begins new ones,
// keeps MaxFiles of them, every line a record; Recent returns the newest, oldest first, and a
// trail opened again continues the newest file.
func TestTrailRotatesAndKeepsTheLastFiles(t *testing.T) {
	dir := t.TempDir()
	tr, err := Open(Config{Dir: dir, MaxFileBytes: 2000, MaxFiles: 3, Ring: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		tr.Observe(encrypt("1234abcd-12ab-34cd-56ef-1234567890ab"), nil, nil, 200, time.Millisecond)
	}
	// Not KMS events: another service's request, and one a live fault answered.
	tr.Observe(&awsapi.Request{Service: "cloudhsm", Operation: "DescribeClusters"}, nil, nil, 200, 0)
	tr.Observe(encrypt("k"), nil, nil, 0, 0)
	last := encrypt("alias/x")
	tr.Observe(last, nil, awsapi.NewError("NotFoundException", "Alias alias/x is not found."), 400, 3*time.Millisecond)
	tr.Sync()
	files, err := Files(dir)
	if err != nil || len(files) != 3 || filepath.Base(files[0]) == FilePrefix+"000001"+FileSuffix {
		t.Fatalf("files %v %v, want the 3 newest", files, err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) > 2000 {
			t.Errorf("%s holds %d bytes, more than MaxFileBytes", f, len(b))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r Record
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.EventName != "Encrypt" {
				t.Fatalf("%s: %v: %s", f, err, line)
			}
		}
	}
	rec := tr.Recent(10)
	if len(rec) != 4 || rec[3].RequestID != last.RequestID || rec[3].ErrorCode != "NotFoundException" || rec[3].Latency() != 3*time.Millisecond {
		t.Fatalf("Recent(10) = %+v", rec)
	}
	r := rec[2]
	if r.UserIdentity != (Identity{Type: "IAMUser", PrincipalID: "AIDAEXAMPLE", ARN: "arn:aws:iam::444455556666:user/app",
		AccountID: "444455556666", AccessKeyID: "AKIAUSER", UserName: "app"}) || r.AWSRegion != "eu-west-1" ||
		len(r.Resources) != 1 || r.Resources[0].ARN != "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab" ||
		string(r.RequestParameters) != `{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}` {
		t.Errorf("record %+v", r)
	}
	if w, d := tr.Counts(); w != 41 || d != 0 {
		t.Errorf("written %d dropped %d, want 41 and 0", w, d)
	}
	_ = tr.Close()

	tr2, err := Open(Config{Dir: dir, MaxFileBytes: 2000, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	tr2.Observe(encrypt("k2"), nil, nil, 200, time.Millisecond)
	_ = tr2.Close()
	again, _ := Files(dir)
	if again[len(again)-1] < files[2] {
		t.Errorf("reopened trail wrote to %v, not after %s", again, files[2])
	}
}

// TestObserveNeverBlocks: with the writer unable to keep up (a queue of one), requests are not
// held: records are dropped and counted.
func TestObserveNeverBlocks(t *testing.T) {
	tr, err := Open(Config{Dir: t.TempDir(), Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10000; i++ {
			tr.Observe(encrypt("k"), nil, nil, 200, 0)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked")
	}
	tr.Sync()
	if w, d := tr.Counts(); d == 0 || w+d != 10000 {
		t.Errorf("written %d dropped %d: want drops, and every record either written or dropped", w, d)
	}
}
