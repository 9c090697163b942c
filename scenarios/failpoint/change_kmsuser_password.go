package failpoint

import (
	"context"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// change-kmsuser-password: the admin sets kmsuser's password behind the KMS's back; the scenario
// knows the new one from then on (update-keystore gives it to the KMS).
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "change-kmsuser-password", Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			c.Password(f)
			c.KMSUserStep(f)
		}},
		Doc:      "have the admin change kmsuser's password behind KMS's back",
		Describe: func(*spec.Fault) string { return "the admin changes kmsuser's password behind KMS's back" },
		Action:   true,
		Inject: func(ctx context.Context, in *Injector, x *Injection) error {
			adm, err := in.Target.Admin(ctx, "kmsuser-admin")
			if err != nil {
				return err
			}
			defer adm.Close()
			defer func() { _ = adm.Logout(context.Background()) }()
			if err := adm.ChangePassword(ctx, "kmsuser", x.F.Password); err != nil {
				return err
			}
			in.Reg.Lock()
			in.Reg.KMSUserPass = x.F.Password
			in.Reg.Unlock()
			return nil
		},
	})
}

// kmsUserPass is the kmsuser password the scenario knows now.
func (in *Injector) kmsUserPass() string {
	in.Reg.Lock()
	defer in.Reg.Unlock()
	return in.Reg.KMSUserPass
}
