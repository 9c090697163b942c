package failpoint

import (
	"context"
	"errors"
	"fmt"

	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// lock-out-kmsuser: wrong kmsuser passwords until the HSM answers CKR_PIN_LOCKED, as an
// attacker or a misconfigured client would; the key store's next connection fails.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "lock-out-kmsuser", Validate: (*spec.FaultCheck).KMSUserStep},
		Doc:       "lock kmsuser out with 5 wrong passwords",
		Action:    true,
		Inject: func(ctx context.Context, in *Injector, _ *Injection) error {
			cl, err := in.Target.Client("kmsuser-attacker", nil)
			if err != nil {
				return err
			}
			defer cl.Close()
			for i := 0; i < 6; i++ {
				_, err := cl.Login(ctx, "kmsuser", fmt.Sprintf("wrongPassword%d", i))
				switch p11.Code(err) {
				case p11.CKR_PIN_INCORRECT:
					continue
				case p11.CKR_PIN_LOCKED:
					return nil
				case p11.CKR_OK:
					return errors.New("a wrong password was accepted")
				default:
					return err
				}
			}
			return nil // five wrong passwords: locked (the sixth try says so)
		},
	})
}
