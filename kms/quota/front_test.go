package quota

import (
	"net/http"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/capacity"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// faultsSeen counts the requests that reach it and lets them through.
type faultsSeen struct{ n int }

func (f *faultsSeen) Intercept(http.ResponseWriter, *http.Request, *awsapi.Request) (bool, error) {
	f.n++
	return false, nil
}

// With the CloudHSM capacity profile the quotas come before the faults: a throttled request
// never reaches them. Without it there are no quotas, and the faults are the whole front.
func TestFrontPutsQuotasBeforeFaults(t *testing.T) {
	f := &faultsSeen{}
	front, q := Front(capacity.ProfileCloudHSM, f)
	if q == nil {
		t.Fatal("the CloudHSM profile has no quotas")
	}
	// GetParametersForImport's quota is 0.25 a second: the second request at once is throttled.
	req := &awsapi.Request{Service: "kms", Operation: "GetParametersForImport", Caller: alice, Body: []byte(`{}`)}
	if _, err := front.Intercept(nil, nil, req); err != nil {
		t.Fatalf("first request: %v", err)
	}
	if _, err := front.Intercept(nil, nil, req); err != Throttled {
		t.Fatalf("second request: %v, want ThrottlingException", err)
	}
	if f.n != 1 {
		t.Fatalf("the faults saw %d requests, want only the one the quotas let through", f.n)
	}

	front, q = Front("", f)
	if q != nil || front != awsapi.Interceptor(f) {
		t.Fatalf("no profile: front %#v, quotas %v; want the faults alone", front, q)
	}
	var none *faultsSeen
	if front, _ := Front("", none); front != nil {
		t.Fatalf("no profile, a nil fault set: front %#v, want none", front)
	}
}
