package failpoint_test

import (
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

const apiBase = `name: api
models: faults at the AWS API
duration: 5s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1}}
setup:
  - kmsuser: {password: kmsPassword1}
  - keystore: {name: store}
  - kms-key: {name: k1, store: store}
workloads:
  - {name: enc, face: kms, op: encrypt, keys: [k1], rate: 10/s}
faults:
`

// TestAPIFaultChecks: an api-fault's rule is read strictly and checked as the live API checks
// it, with the file's position and field.
func TestAPIFaultChecks(t *testing.T) {
	for fault, want := range map[string]string{
		`{at: 1s, do: api-fault}`: "faults[0].api: api-fault needs api",
		`{at: 1s, do: api-fault, api: {error: ThrottlingException, colour: red}}`: `faults[0].api: json: unknown field "colour"`,
		`{at: 1s, do: api-fault, api: {action: explode}}`:                         `faults[0].api: action "explode"`,
		`{at: 1s, do: api-fault, api: {latency: soon}}`:                           `faults[0].api: latency "soon"`,
		`{at: 1s, do: api-fault, api: {error: ThrottlingException, for: 2s}}`:     "faults[0].api.for: the step's for",
		`{at: 1s, do: api-fault, api: {action: fail-keystore, store: elsewhere}}`: `faults[0].api.store: "elsewhere" is not a key store`,
		`{at: 1s, do: api-fault, api: [1, 2]}`:                                    "faults[0].api: a mapping",
	} {
		_, err := spec.Parse("api.yaml", []byte(apiBase+"  - "+fault+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", fault, err, want)
		}
	}
	s, err := spec.Parse("api.yaml", []byte(apiBase+`  - {at: 1s, for: 2s, do: api-fault, api: {error: ThrottlingException, operations: [Encrypt], keys: [k1], probability: 0.5}}
  - {at: 1s, for: 2s, do: api-fault, api: {action: fail-keystore, store: store}}
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"AWS API: ThrottlingException (400) operations=Encrypt keys=k1 p=0.5", "AWS API: key store store FAILED (CLUSTER_NOT_FOUND)"} {
		if got := failpoint.DescribeFault(&s.Faults[i]); got != want {
			t.Errorf("describe: %q, want %q", got, want)
		}
	}
}
