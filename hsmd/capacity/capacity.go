// Package capacity makes an HSM node as fast as a real CloudHSM HSM and no faster: the
// published per-HSM rates of the operations AWS gives figures for (Rates), and a Limiter per
// node that holds each such operation to its rate, queues what arrives faster up to a bound,
// and answers the HSM's busy error past it. A node without a Limiter is not limited at all.
//
// The figures are AWS's "AWS CloudHSM performance information" page
// (https://docs.aws.amazon.com/cloudhsm/latest/userguide/performance.html): approximate cluster
// rates for two-, three- and six-HSM clusters of hsm1.medium and hsm2m.medium. The per-HSM rate
// here is the two-HSM figure halved (the three-HSM figures are exactly 1.5 times those); the
// six-HSM figures are below six times one HSM because one client instance no longer keeps six
// HSMs busy, which is the client's limit, not the HSMs'. AWS publishes no figure for other
// operations (AES, verify, key generation, other key sizes and curves); they run unlimited, as
// fast as this machine runs them. docs/CAPACITY.md has the table and the reasoning.
package capacity

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Profile names, as `--capacity` takes them.
const (
	ProfileNone     = ""         // nothing is limited
	ProfileCloudHSM = "cloudhsm" // the published CloudHSM rates (this package) and KMS quotas (kms/quota)
)

// CheckProfile accepts the profiles hsmsim knows.
func CheckProfile(p string) error {
	if p != ProfileNone && p != ProfileCloudHSM {
		return fmt.Errorf("capacity profile %q: the profiles are %q (or none)", p, ProfileCloudHSM)
	}
	return nil
}

// Class is a kind of operation AWS publishes a rate for.
type Class string

const (
	RSA2048Sign Class = "rsa2048-sign" // a signature with an RSA key of 2048 bits, any padding or digest
	ECP256Sign  Class = "ec-p256-sign" // an ECDSA signature with a P-256 key
)

// HSM types (CloudHSM's HsmType).
const (
	HSM1Medium  = "hsm1.medium"
	HSM2mMedium = "hsm2m.medium"
)

// Rates are the operations per second one HSM of each type sustains: half of AWS's published
// two-HSM cluster figures (hsm1.medium: RSA-2048 sign 2,000/s, EC P-256 sign 500/s;
// hsm2m.medium: 2,000/s and 3,000/s).
var Rates = map[string]map[Class]float64{
	HSM1Medium:  {RSA2048Sign: 1000, ECP256Sign: 250},
	HSM2mMedium: {RSA2048Sign: 1000, ECP256Sign: 1500},
}

// QueueTime bounds how long an operation waits for its turn: an HSM's request queue is finite,
// and a request that would wait longer is refused as busy. AWS documents the refusal (the HSM
// "could not queue the request for processing", response code 187) but not the queue's depth;
// a quarter second of work per class is hsmsim's choice.
const QueueTime = 250 * time.Millisecond

// ErrBusy is what a node at its limit answers: CKR_FUNCTION_FAILED, as Client SDK 5's PKCS#11
// library maps the HSM's busy response (AWS CloudHSM user guide, "HSM throttling",
// https://docs.aws.amazon.com/cloudhsm/latest/userguide/troubleshoot-hsm-throttling.html),
// with p11.ReasonHSMBusy so clients can tell it from other failures and retry.
func ErrBusy(c Class) error {
	return p11.WithReason(p11.Errorf(p11.CKR_FUNCTION_FAILED,
		"the HSM could not queue the request for processing (HSM busy, response code 187: %s over its rate)", c), p11.ReasonHSMBusy)
}

// Limiter holds one HSM's operations to the rates of its type. It is safe for concurrent use.
type Limiter struct {
	hsmType string
	classes map[Class]*rate.Limiter
	now     func() time.Time
}

// NewLimiter limits an HSM of type hsmType (HSM1Medium or HSM2mMedium).
func NewLimiter(hsmType string) (*Limiter, error) {
	rs, ok := Rates[hsmType]
	if !ok {
		return nil, fmt.Errorf("capacity: no published rates for HSM type %q", hsmType)
	}
	l := &Limiter{hsmType: hsmType, classes: map[Class]*rate.Limiter{}, now: time.Now}
	for c, r := range rs {
		// A burst of one: an HSM works at a steady pace and saves nothing up while idle.
		l.classes[c] = rate.NewLimiter(rate.Limit(r), 1)
	}
	return l, nil
}

// HSMType is the type whose rates l enforces.
func (l *Limiter) HSMType() string { return l.hsmType }

// Admit waits for the turn of an operation (op is the node API's method: "Sign") with key k, or refuses it with ErrBusy when the wait would pass QueueTime, or with the
// context's error when the caller gives up meanwhile (its turn is given back). Operations of no
// published class pass at once.
func (l *Limiter) Admit(ctx context.Context, op string, k *mech.Key) error {
	c, ok := Classify(op, k)
	if !ok {
		return nil
	}
	lim := l.classes[c]
	if lim == nil {
		return nil
	}
	now := l.now()
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d == 0 {
		return nil
	}
	if d > QueueTime {
		r.CancelAt(now)
		return ErrBusy(c)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// p256 is the DER of the P-256 curve's OID, as CKA_EC_PARAMS holds it.
var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// Classify names the published class of an operation with key k, if it has one.
func Classify(op string, k *mech.Key) (Class, bool) {
	if op != "Sign" || k == nil {
		return "", false
	}
	kt, _ := k.Attrs.Ulong(p11.CKA_KEY_TYPE)
	switch kt {
	case p11.CKK_RSA:
		mod, _ := k.Attrs.Get(p11.CKA_MODULUS)
		if mod = bytes.TrimLeft(mod, "\x00"); len(mod) == 256 && mod[0]&0x80 != 0 {
			return RSA2048Sign, true
		}
	case p11.CKK_EC:
		if params, _ := k.Attrs.Get(p11.CKA_EC_PARAMS); bytes.Equal(params, p256) {
			return ECP256Sign, true
		}
	}
	return "", false
}
