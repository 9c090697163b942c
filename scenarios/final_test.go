package scenarios

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestStillDecrypts: the final check of a ciphertext tells a lost one from a cluster that
// cannot answer yet. Campaign seeds 28, 31, 49 and 50 (short, every kind and face) reported
// ciphertexts "lost" whose Decrypt had failed once with KMSInvalidStateException ("KMS cannot
// communicate with your CloudHSM cluster") while the HSMs, all holding the same token, were
// still settling leadership on a loaded machine. Such an answer is asked again (bounded); an
// answer that says the ciphertext is bad, or another plaintext, is a loss at once; an answer
// that stays unavailable until the bound is a loss too (nothing shows the key survived).
func TestStillDecrypts(t *testing.T) {
	unavailable := &types.KMSInvalidStateException{Message: new(string)}
	*unavailable.Message = "KMS cannot communicate with your CloudHSM cluster."
	for name, tc := range map[string]struct {
		answers []error
		plain   string
		lost    bool
		calls   int
	}{
		"unavailable, then decrypts": {answers: []error{unavailable, &types.KMSInternalException{}, nil}, plain: "p", calls: 3},
		"decrypts":                   {answers: []error{nil}, plain: "p", calls: 1},
		"bad ciphertext":             {answers: []error{&types.InvalidCiphertextException{}}, lost: true, calls: 1},
		"another plaintext":          {answers: []error{nil}, plain: "q", lost: true, calls: 1},
		"never available":            {answers: []error{unavailable}, lost: true},
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			decrypt := func(context.Context) ([]byte, error) {
				err := tc.answers[min(calls, len(tc.answers)-1)]
				calls++
				return []byte(tc.plain), err
			}
			err := stillDecrypts(context.Background(), decrypt, []byte("p"), time.Now().Add(300*time.Millisecond), time.Millisecond)
			if (err != nil) != tc.lost {
				t.Fatalf("lost %v (%v), want %v", err != nil, err, tc.lost)
			}
			if tc.calls > 0 && calls != tc.calls {
				t.Errorf("%d calls, want %d", calls, tc.calls)
			}
			if name == "never available" && (calls < 2 || !errors.As(err, &unavailable)) {
				t.Errorf("%d calls, err %v: not asked again until the bound", calls, err)
			}
		})
	}
}
