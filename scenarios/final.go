package scenarios

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

// finalChecks looks for every acknowledged key on every node, decrypts a sample of the
// acknowledged ciphertexts and uses the KMS keys created, and reads the key stores' states.
func (e *engine) finalChecks(ctx context.Context, f *validate.Final) {
	acked := validate.AckedKeys(e.tl.Ops())
	f.Present = map[string]map[uint32]bool{}
	handles := slices.Sorted(maps.Keys(acked))
	e.reg.Lock()
	users := maps.Clone(e.reg.Users)
	e.reg.Unlock()
	for _, n := range f.Nodes {
		if !n.Up || n.Cluster != "" {
			continue // a restored cluster holds what its backup held, not the later keys
		}
		have, err := e.env.Holds(ctx, n.Label, handles, users)
		if err != nil { // only process mode lists keys over the network
			f.Notes = append(f.Notes, fmt.Sprintf("process mode: could not list %s's keys: %v", n.Label, err))
			continue
		}
		if have != nil {
			f.Present[n.Label] = have
		}
	}
	if e.kms == nil {
		return
	}
	e.sampleStores(ctx)
	e.mu.Lock()
	f.KeyStores = map[string]string{}
	for k, v := range e.stores {
		f.KeyStores[k] = v
	}
	e.mu.Unlock()
	usable := func(keyName string) bool { // a key whose store is not connected cannot be checked
		store := ""
		for _, st := range e.s.Setup {
			if st.Kind == spec.StepKMSKey && st.Name == keyName {
				store = st.Store
			}
		}
		return store == "" || f.KeyStores[store] == "CONNECTED"
	}
	cts := e.reg.Ciphertexts()
	step := max(1, len(cts)/64)
	skipped := 0
	for i := 0; i < len(cts); i += step {
		c := cts[i]
		if !usable(c.StoreKey) {
			skipped++
			continue
		}
		f.CiphertextsChecked++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		out, err := e.kms.Decrypt(cctx, &awskms.DecryptInput{CiphertextBlob: c.Blob})
		cancel()
		if err != nil || string(out.Plaintext) != string(c.Plaintext) {
			f.CiphertextsLost = append(f.CiphertextsLost, fmt.Sprintf("%s ciphertext acknowledged at %s: %v", c.StoreKey, c.ProducedAt.Round(time.Millisecond), errOrMismatch(err)))
		}
	}
	if skipped > 0 {
		f.Notes = append(f.Notes, fmt.Sprintf("%d ciphertexts not checked: their key store is not connected at the end", skipped))
	}
	n := 0
	for _, o := range e.tl.Ops() {
		if o.Kind != "create-key" || !o.OK() || n >= 32 {
			continue
		}
		n++
		f.KMSKeysChecked++
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := e.kms.Encrypt(cctx, &awskms.EncryptInput{KeyId: aws.String(o.Value), Plaintext: []byte("still there?")})
		cancel()
		if err != nil {
			f.KMSKeysLost = append(f.KMSKeysLost, fmt.Sprintf("%s (created at %s): %v", o.Value, o.End.Round(time.Millisecond), err))
		}
	}
}

func errOrMismatch(err error) string {
	if err != nil {
		return err.Error()
	}
	return "another plaintext"
}
