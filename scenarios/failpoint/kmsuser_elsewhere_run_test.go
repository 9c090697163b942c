package failpoint_test

import (
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/history"
)

// TestLogoutActionEndsTheLoginFault: a login-kmsuser-elsewhere without a duration, ended by a
// logout-kmsuser-elsewhere action, so a scenario can order what comes next after the logout has
// completed (a logout is a replicated write, and under load it takes a while). The action logs
// out; the heal at the end then finds nothing to log out, which is no error. A second logout,
// with no login left, is the action's failure.
func TestLogoutActionEndsTheLoginFault(t *testing.T) {
	res := runScenario(t, "kmsuser-logout.yaml", `name: kmsuser-logout
models: another client logs in as kmsuser and out again, by an action
duration: 4s
cluster: {hsms: {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}}
setup:
  - kmsuser: {password: kmsPassword1}
  - user: {name: app, password: appPassword1}
  - key: {name: signer, owner: app, type: ec-p256}
workloads:
  - {name: sign, face: hsm, op: sign, keys: [signer], rate: 10/s, concurrency: 1}
faults:
  - {name: login, at: 500ms, do: login-kmsuser-elsewhere}
  - {name: logout, when: {after: login}, delay: 500ms, do: logout-kmsuser-elsewhere}
  - {name: again, when: {after: logout}, delay: 500ms, do: logout-kmsuser-elsewhere, expect: any}
`)
	seen := map[string]history.Event{}
	for _, e := range res.Events {
		seen[string(e.Kind)+" "+e.Name] = e
	}
	if e, ok := seen["action logout"]; !ok || e.Fields["pass"] != "true" {
		t.Errorf("the logout action: %+v (seen %v)", e, ok)
	}
	if e, ok := seen["action again"]; !ok || e.Fields["got"] == "ok" || e.Fields["got"] == "" {
		t.Errorf("a logout with no login left: %+v (seen %v)", e, ok)
	}
	e, ok := seen["undo login"]
	if !ok {
		t.Fatalf("the heal did not end the login fault: %+v", res.Events)
	}
	if e.Fields["err"] != "" {
		t.Errorf("the heal after the logout action failed: %s", e.Fields["err"])
	}
}
