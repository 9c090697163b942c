package client

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// keepAlive renews a login's lease every third of it, for as long as this client lives and the
// session still holds that login. A renewal that fails on one node fails over like any call; a
// login the cluster has already ended (CKR_USER_NOT_LOGGED_IN) is not renewed again.
func (c *Client) keepAlive(cred string, lease time.Duration) {
	every := max(lease/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if c.sess.Credential() != cred {
			return // logged out, or another login replaced this one
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		_, err := c.api.RenewLogin(ctx, &hsmpb.Empty{})
		cancel()
		if err != nil && p11.Code(err) == p11.CKR_USER_NOT_LOGGED_IN {
			return
		}
	}
}
