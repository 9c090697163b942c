package client

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// A login ends on the cluster a lease after its last renewal (hsmd/server/lease.go), so the
// credential a Session holds is renewed while any client using that Session lives: every client
// looks every renewTick, and the one that finds the renewal due claims it (a compare-and-swap on
// the Session's renewal time), so a Session shared by many clients renews once per period. A
// credential adopted rather than logged in for (SetCredential) is renewed at once, and its
// renewal's answer tells the lease (defaultRenew until then, should that answer not come).

const (
	renewTick    = 250 * time.Millisecond
	defaultRenew = 5 * time.Second
)

// renewIfDue renews the Session's login when its renewal is due and this client claims it; it
// runs every renewTick until Close.
func (c *Client) renewIfDue() {
	if !c.sess.claimRenewal(time.Now()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.AttemptTimeout)
	r, err := c.api.RenewLogin(ctx, &hsmpb.Empty{})
	cancel()
	switch {
	case err == nil && r.LeaseSeconds > 0:
		c.sess.lease.Store(int64(time.Duration(r.LeaseSeconds) * time.Second))
	case p11.Code(err) == p11.CKR_USER_NOT_LOGGED_IN:
		c.sess.ended(c.sess.Credential()) // the cluster ended it: stop renewing it
	}
}

// claimRenewal says whether the caller should renew the Session's login now, and if so marks it
// renewed so that no other client of the Session does too.
func (s *Session) claimRenewal(now time.Time) bool {
	if s.Credential() == "" || s.dead.Load() {
		return false
	}
	every := defaultRenew
	if l := time.Duration(s.lease.Load()); l > 0 {
		every = l / 3
	}
	last := s.renewed.Load()
	if now.UnixNano()-last < int64(every) {
		return false
	}
	return s.renewed.CompareAndSwap(last, now.UnixNano())
}

// ended marks cred as a login the cluster no longer has, if it is still the Session's.
func (s *Session) ended(cred string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cred == cred {
		s.dead.Store(true)
	}
}

// keepPublicAlive shows the nodes that hold this client's session objects that its public
// session lives: a node drops a public session's objects when no call has named it for a while
// (hsmd/server, publicIdle, eight leases), as it ends a login whose lease ran out. It runs every
// renewTick and calls each such node at most once a lease (defaultRenew while none is known).
func (c *Client) keepPublicAlive() {
	c.sess.mu.RLock()
	public := c.sess.public
	c.sess.mu.RUnlock()
	if public == "" {
		return
	}
	every := defaultRenew
	if l := time.Duration(c.sess.lease.Load()); l > 0 && l < every {
		every = l
	}
	now := time.Now().UnixNano()
	last := c.keptAlive.Load()
	if now-last < int64(every) || !c.keptAlive.CompareAndSwap(last, now) {
		return
	}
	for _, nc := range c.homeNodes() {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), pinKey{}, nc), c.cfg.AttemptTimeout)
		info, err := c.api.GetInfo(ctx, &hsmpb.Empty{}) // any call naming the session will do
		cancel()
		if err == nil && info.LoginLeaseSeconds > 0 {
			c.sess.lease.CompareAndSwap(0, int64(time.Duration(info.LoginLeaseSeconds)*time.Second))
		}
	}
}
