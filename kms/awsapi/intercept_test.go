package awsapi

import (
	"net/http"
	"testing"
)

// countingInterceptor counts its calls and refuses every request.
type countingInterceptor struct{ calls int }

func (c *countingInterceptor) Intercept(http.ResponseWriter, *http.Request, *Request) (bool, error) {
	c.calls++
	return false, NewError("ThrottlingException", "refused")
}

// A nil *T passed as an Interceptor (a typed nil: a nil *fault.Set or *quota.Quotas) is no
// interceptor at all: Chain skips it as it skips a plain nil, rather than calling its method on
// a nil receiver.
func TestChainSkipsTypedNil(t *testing.T) {
	var none *countingInterceptor
	if c := Chain(none, nil); c != nil {
		t.Fatalf("Chain(typed nil, nil) = %#v, want nil", c)
	}
	real := &countingInterceptor{}
	c := Chain(none, real, (*countingInterceptor)(nil))
	if c != Interceptor(real) {
		t.Fatalf("Chain(typed nil, real, typed nil) = %#v, want the one real interceptor", c)
	}
	if _, err := c.Intercept(nil, nil, &Request{}); err == nil || real.calls != 1 {
		t.Fatalf("err %v, calls %d: want the real interceptor's refusal, once", err, real.calls)
	}
}

// Chain consults its interceptors in order; the first refusal ends the request.
func TestChainOrder(t *testing.T) {
	first, second := &countingInterceptor{}, &countingInterceptor{}
	if _, err := Chain(first, second).Intercept(nil, nil, &Request{}); err == nil {
		t.Fatal("the chain let a refused request through")
	}
	if first.calls != 1 || second.calls != 0 {
		t.Fatalf("calls %d, %d: want 1, 0", first.calls, second.calls)
	}
}
