package failpoint

import (
	"context"
	"errors"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// login-kmsuser-elsewhere and logout-kmsuser-elsewhere: another client logs in as kmsuser with
// the password the scenario knows (CloudHSM lets one user log in once at a time, so the key
// store cannot), and that login ends.
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "login-kmsuser-elsewhere", Undo: "log out", Validate: (*spec.FaultCheck).KMSUserStep},
		Doc:       "log in as kmsuser from another client",
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			cl, err := in.Target.Client("kmsuser-elsewhere", nil)
			if err != nil {
				return err
			}
			if _, err := cl.Login(ctx, "kmsuser", in.kmsUserPass()); err != nil {
				cl.Close()
				x.Action = true // the login's answer is the result
				return err
			}
			in.keep(elsewhereKey, cl)
			x.Undo = func(ctx context.Context) error {
				if err := in.logoutElsewhere(ctx); err != nil && !errors.Is(err, errNotElsewhere) {
					return err
				}
				return nil // a logout-kmsuser-elsewhere action ended it already
			}
			return nil
		},
	})
	Register(Family{
		FaultKind: spec.FaultKind{Name: "logout-kmsuser-elsewhere", Validate: (*spec.FaultCheck).KMSUserStep},
		Doc:       "log out the other client's kmsuser login",
		Action:    true,
		Inject: func(ctx context.Context, in *Injector, _ *Injection) error {
			return in.logoutElsewhere(ctx)
		},
	})
}

// elsewhereKey keeps the other client's login between the two.
const elsewhereKey = "kmsuser-elsewhere"

// errNotElsewhere: no other client's kmsuser login to end. For the logout action it is a
// failure; for the login fault's undo it means the action ended the login first, so a scenario
// can end it with the action and order its next steps after the logout completed.
var errNotElsewhere = errors.New("kmsuser is not logged in elsewhere")

func (in *Injector) logoutElsewhere(ctx context.Context) error {
	cl, _ := in.take(elsewhereKey).(*client.Client)
	if cl == nil {
		return errNotElsewhere
	}
	defer cl.Close()
	return cl.Logout(ctx)
}
