package scenarios

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/scenarios/history"
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
	// An unavailable KMS is asked again until 20 s from now, over all the checks below.
	patience := time.Now().Add(20 * time.Second)
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
		decrypt := func(ctx context.Context) ([]byte, error) {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			out, err := e.kms.Decrypt(cctx, &awskms.DecryptInput{CiphertextBlob: c.Blob})
			if err != nil {
				return nil, err
			}
			return out.Plaintext, nil
		}
		if err := stillDecrypts(ctx, decrypt, c.Plaintext, patience, 200*time.Millisecond); err != nil {
			f.CiphertextsLost = append(f.CiphertextsLost, fmt.Sprintf("%s ciphertext acknowledged at %s: %v", c.StoreKey, c.ProducedAt.Round(time.Millisecond), err))
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
		err := untilAvailable(ctx, func(ctx context.Context) error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := e.kms.Encrypt(cctx, &awskms.EncryptInput{KeyId: aws.String(o.Value), Plaintext: []byte("still there?")})
			return err
		}, patience, 200*time.Millisecond)
		if err != nil {
			f.KMSKeysLost = append(f.KMSKeysLost, fmt.Sprintf("%s (created at %s): %v", o.Value, o.End.Round(time.Millisecond), err))
		}
	}
}

// unavailable are the answers of a KMS that cannot reach its cluster now, which say nothing of
// whether a ciphertext survived: what KMS answers a cryptographic operation when the custom key
// store's cluster does not (AWS KMS Developer Guide, "Troubleshooting a custom key store", how to
// respond to a cryptographic operation failure:
// https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html#fix-keystore-communication),
// an internal error, a dependency timeout, throttling, or no answer.
var unavailable = map[string]bool{"KMSInvalidStateException": true, "KMSInternalException": true,
	"DependencyTimeoutException": true, "ThrottlingException": true, "Timeout": true, "Error": true}

// errAnotherPlaintext: the ciphertext decrypted, to something else (an answer, not unavailable).
var errAnotherPlaintext = errors.New("another plaintext")

// stillDecrypts reports whether an acknowledged ciphertext still decrypts to its plaintext (nil)
// or why not. An unavailable answer is asked again every `every` until the deadline: the
// check is made after the heal, and a cluster still electing a leader on a loaded machine has
// not lost anything. A bad-ciphertext answer or another plaintext is a loss at once; an
// answer unavailable to the end is one too, with its error (nothing shows the key survived).
func stillDecrypts(ctx context.Context, decrypt func(context.Context) ([]byte, error), plain []byte, deadline time.Time, every time.Duration) error {
	return untilAvailable(ctx, func(ctx context.Context) error {
		got, err := decrypt(ctx)
		if err == nil && string(got) != string(plain) {
			return errAnotherPlaintext
		}
		return err
	}, deadline, every)
}

// untilAvailable calls call until it answers something other than unavailable, or the
// deadline (one for the whole final check, so that a cluster that stays unavailable costs it
// once, not once per ciphertext) has passed; it returns the last answer.
func untilAvailable(ctx context.Context, call func(context.Context) error, deadline time.Time, every time.Duration) error {
	for {
		err := call(ctx)
		if err == nil || errors.Is(err, errAnotherPlaintext) || !unavailable[history.ErrorCode(err)] || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(every):
		}
	}
}
