package failpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// api-fault: a rule at the AWS API (package kms/awsapi/fault) in force for the step's `for`,
// or until the end of the load: chosen AWS errors, 5xx without a body, connection resets,
// latency, timeouts, matched by service, operation, key, region, caller and a probability drawn
// from the scenario's seed; or a custom key store left FAILED as when its cluster is lost. The
// rule is the same JSON the live API (`hsmsim fault`) takes, written as the fault's `api`
// mapping; its `keys` and `store` may name the setup's kms-keys and key stores.
//
//	faults:
//	  - {name: throttle, at: 2s, for: 3s, do: api-fault, api: {error: ThrottlingException, operations: [Encrypt], keys: [k1]}}
//	  - {name: lost, at: 2s, for: 3s, do: api-fault, api: {action: fail-keystore, store: store}}
func init() {
	Register(Family{
		FaultKind: spec.FaultKind{Name: "api-fault", Undo: "end the rule", Validate: func(c *spec.FaultCheck, f *spec.Fault) {
			r, err := apiRule(f)
			if err != nil {
				c.Errorf("api", "%v", err)
				return
			}
			if r.For != 0 {
				c.Errorf("api.for", "the step's for says how long the rule stays")
			}
			if r.Action == fault.ActFailKeyStore && !c.Stores[r.Store] {
				c.Errorf("api.store", "%q is not a key store of the setup", r.Store)
			}
		}},
		Doc: "a fault at the AWS API: an AWS error, a 5xx without a body, a reset, latency, a timeout, or a key store FAILED",
		Describe: func(f *spec.Fault) string {
			r, err := apiRule(f)
			if err != nil {
				return "api-fault (" + err.Error() + ")"
			}
			return "AWS API: " + r.Describe()
		},
		Available: func(t Target) error {
			if _, ok := t.(APIFaulter); !ok {
				return lacks("the KMS")
			}
			return nil
		},
		Inject: func(_ context.Context, in *Injector, x *Injection) error {
			a, _ := in.Target.(APIFaulter)
			var set *fault.Set
			if a != nil {
				set = a.APIFaults()
			}
			if set == nil {
				return errors.New("no KMS in this scenario")
			}
			r, err := apiRule(x.F)
			if err != nil {
				return err
			}
			in.Reg.Lock()
			for i, k := range r.Keys {
				if id, ok := in.Reg.KMSKeys[k]; ok {
					r.Keys[i] = id
				}
			}
			if id, ok := in.Reg.Stores[r.Store]; ok {
				r.Store = id
			}
			in.Reg.Unlock()
			// The injector ends the rule (at `for`, or at the end of the load); its own expiry
			// is only a backstop.
			r.For = fault.Duration(x.P.For + time.Hour)
			added, err := set.Add(r)
			if err != nil {
				return err
			}
			x.Fields["rule"] = added.ID
			x.Undo = func(context.Context) error { set.Remove(added.ID); return nil }
			return nil
		},
	})
}

// APIFaulter is a target whose KMS endpoint consults rules at the AWS API.
type APIFaulter interface {
	APIFaults() *fault.Set
}

// apiRule reads the fault's rule, strictly, with its defaults filled.
func apiRule(f *spec.Fault) (fault.Rule, error) {
	var r fault.Rule
	if len(f.API) == 0 {
		return r, errors.New("api-fault needs api: the rule (error, operations, keys, ...)")
	}
	dec := json.NewDecoder(bytes.NewReader(f.API))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, err
	}
	keep := r.For
	err := r.Normalize()
	r.For = keep
	return r, err
}
