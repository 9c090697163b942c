package moduletest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"
)

// 32 goroutines, each with its own session, sign and verify at once; each also makes and
// destroys a session key of its own.
func TestConcurrentSessions(t *testing.T) {
	start(t, standard)
	s0 := session(t)
	pub, priv := ecKeyPair(t, s0, true)
	goPub := ecPublic(t, s0, pub)
	const workers, rounds = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			s, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
			if err != nil {
				errs <- err
				return
			}
			defer p.CloseSession(s)
			for i := range rounds {
				h := digest(fmt.Sprint(w, i))
				if err := p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), priv); err != nil {
					errs <- fmt.Errorf("worker %d: SignInit: %w", w, err)
					return
				}
				sig, err := p.Sign(s, h)
				if err != nil {
					errs <- fmt.Errorf("worker %d: Sign: %w", w, err)
					return
				}
				if !ecdsaOK(goPub, h, sig) {
					errs <- fmt.Errorf("worker %d: bad signature", w)
					return
				}
			}
			k, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)})
			if err == nil {
				err = p.DestroyObject(s, k)
			}
			if err != nil {
				errs <- fmt.Errorf("worker %d: session key: %w", w, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ti, err := p.GetTokenInfo(1)
	must(t, err)
	if ti.SessionCount != 1 {
		t.Fatalf("%d sessions open after the workers closed theirs", ti.SessionCount)
	}
}
