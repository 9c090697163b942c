package server

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Logins end with their clients. A login is replicated state (every node accepts its
// credential, so a failover costs nothing), and it carries a lease: the client renews it while it
// lives (RenewLogin, a replicated command stamped with the proposer's clock), and the leader ends
// the logins whose lease ran out (CmdExpireLogins, stamped likewise, so every replica removes the
// same ones). Apply reads no clock; only the proposers do.

// leaseLoop runs until Close: on the leader it expires logins, on every node it drops the
// session objects of logins that have ended anywhere in the cluster.
func (n *Node) leaseLoop() {
	defer close(n.loopDone)
	every := max(n.cfg.LoginLease/4, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		s := n.State()
		if s == nil {
			continue
		}
		n.sess.dropEnded(s, publicIdle(n.cfg.LoginLease))
		if !n.isLeader() {
			continue
		}
		before := time.Now().Add(-n.cfg.LoginLease).Unix()
		if s.ExpiredLogins(before) == 0 {
			continue // nothing to end: no write
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		res, _, err := n.propose(ctx, token.Command{Type: token.CmdExpireLogins, Msg: &hsmpb.CmdExpireLogins{BeforeUnix: before}})
		cancel()
		if err != nil {
			n.log.Debug("login expiry not applied; next round tries again", "err", err)
			continue
		}
		n.log.Info("logins whose client is gone ended", "result", res.Msg)
	}
}

func (n *Node) isLeader() bool {
	return n.leaderID() == n.cfg.NodeID
}

// RenewLogin extends the caller's login by a lease.
func (v *service) RenewLogin(ctx context.Context, _ *hsmpb.Empty) (*hsmpb.RenewLoginResponse, error) {
	c := callerOf(ctx)
	if _, err := v.apply(ctx, token.CmdRenewLogin, &hsmpb.CmdRenewLogin{LoginId: c.login.ID, AtUnix: time.Now().Unix()}); err != nil {
		return nil, err
	}
	return &hsmpb.RenewLoginResponse{LeaseSeconds: v.n.leaseSeconds()}, nil
}

// leaseSeconds is the login lease as the wire states it.
func (n *Node) leaseSeconds() uint32 { return uint32(max(1, n.cfg.LoginLease.Seconds())) }
