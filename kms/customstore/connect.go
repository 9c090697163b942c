package customstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The connection of a custom key store to its cluster (aws-semantics.md §1).
//
// Connection state machine, per store, held in memory (Store.conns; absent =
// DISCONNECTED):
//
//	DISCONNECTED --Connect--> CONNECTING --(async)--> CONNECTED | FAILED(code)
//	CONNECTED, CONNECTING, FAILED --Disconnect--> DISCONNECTED
//
// Connecting logs in as kmsuser with the stored password, refuses if kmsuser has another active
// login, rotates kmsuser's password (the new one is stored sealed before the change, as
// "pending", so a crash in between loses nothing) and stays logged in. A store that is connected
// when the server closes is logged out and connects again at the next Open.

const (
	connConnected     = "CONNECTED"
	connConnecting    = "CONNECTING"
	connFailed        = "FAILED"
	connDisconnected  = "DISCONNECTED"
	connDisconnecting = "DISCONNECTING"
)

// KMSUser is the crypto user the KMS logs in as in a custom key store's cluster.
const KMSUser = "kmsuser"

// storeConn is the connection of one store (guarded by Store.mu).
type storeConn struct {
	state  string
	code   string
	cl     *client.Client
	cancel context.CancelFunc
}

// connState is the ConnectionState of store id, and its ConnectionErrorCode when FAILED
// (callers hold mu).
func (h *Store) connState(id string) (state, code string) {
	c := h.conns[id]
	if c == nil {
		return connDisconnected, ""
	}
	return c.state, c.code
}

// startConnect begins connecting a store (callers hold mu).
func (h *Store) startConnect(id string) {
	ctx, cancel := context.WithTimeout(h.bgCtx, 2*time.Minute)
	conn := &storeConn{state: connConnecting, cancel: cancel}
	h.conns[id] = conn
	h.log.Info("custom key store connecting", "store", id)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer cancel()
		cl, code := h.connect(ctx, id)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.conns[id] != conn { // disconnected (or reconnected) meanwhile
			if cl != nil {
				logoutAndClose(cl)
			}
			return
		}
		if code != "" {
			conn.state, conn.code = connFailed, code
			h.log.Warn("custom key store connection failed", "store", id, "code", code)
			return
		}
		conn.state, conn.cl = connConnected, cl
		h.log.Info("custom key store connected", "store", id)
	}()
}

// logoutAndClose ends a connection as a disconnect does: kmsuser logs out, then the client closes.
func logoutAndClose(cl *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Logout(ctx)
	_ = cl.Close()
}

// connect does what ConnectCustomKeyStore does in the background and names what went wrong with
// a ConnectionErrorCode ("" on success).
func (h *Store) connect(ctx context.Context, id string) (*client.Client, string) {
	h.mu.RLock()
	st := h.stores[id]
	h.mu.RUnlock()
	if st == nil {
		return nil, "INTERNAL_ERROR"
	}
	cluster, err := h.dir.Cluster(ctx, st.Account, st.Region, st.ClusterID)
	if errors.Is(err, cloudhsm.ErrClusterNotFound) {
		return nil, "CLUSTER_NOT_FOUND"
	}
	if err != nil {
		return nil, "INTERNAL_ERROR"
	}
	if n, _ := cluster.ActiveAZs(); n == 0 {
		return nil, "INSUFFICIENT_CLOUDHSM_HSMS"
	}
	cl, err := h.dir.Dial(ctx, cluster)
	if err != nil {
		return nil, "NETWORK_ERRORS"
	}
	code := h.loginKMSUser(ctx, cl, st)
	if code != "" {
		_ = cl.Close()
		return nil, code
	}
	return cl, ""
}

// updateStore persists f applied to a copy of store id's record (callers do not hold mu).
func (h *Store) updateStore(id string, f func(*Record)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.stores[id]
	if cur == nil {
		return fmt.Errorf("kms: custom key store %s is gone", id)
	}
	upd := *cur
	f(&upd)
	if err := h.host.Put(&upd); err != nil {
		return err
	}
	h.stores[upd.ID] = &upd
	return nil
}

func passwordAAD(id string) string { return "kmsuser-password:" + id }

func sessionAAD(id string) string { return "kmsuser-session:" + id }

// endStaleLogin logs out the kmsuser login an earlier run of this KMS left behind when it
// stopped without disconnecting (a crash): on CloudHSM that session ends with its connection,
// here the KMS ends it itself, so its own old login is not taken for USER_LOGGED_IN.
func (h *Store) endStaleLogin(ctx context.Context, cl *client.Client, st *Record) {
	if st.Session == nil {
		return
	}
	if cred, err := h.host.Unseal(st.Session, sessionAAD(st.ID)); err == nil {
		cl.Session().SetCredential(string(cred))
		_ = cl.Logout(ctx) // already gone is fine too
		cl.Session().SetCredential("")
	}
	_ = h.updateStore(st.ID, func(r *Record) { r.Session = nil })
}

// loginKMSUser logs cl in as kmsuser and rotates its password.
func (h *Store) loginKMSUser(ctx context.Context, cl *client.Client, st *Record) string {
	pw, err := h.host.Unseal(st.Password, passwordAAD(st.ID))
	if err != nil {
		return "INTERNAL_ERROR"
	}
	h.endStaleLogin(ctx, cl, st)
	_, err = cl.Login(ctx, KMSUser, string(pw))
	if err != nil && p11.Code(err) == p11.CKR_PIN_INCORRECT && st.Pending != nil {
		// A rotation was interrupted after the cluster may have taken the new password.
		if pending, perr := h.host.Unseal(st.Pending, passwordAAD(st.ID)); perr == nil {
			_, err = cl.Login(ctx, KMSUser, string(pending))
			pw = pending
		}
	}
	if err != nil {
		return loginErrorCode(err)
	}
	if err := h.updateStore(st.ID, func(r *Record) { r.Session = h.host.Seal([]byte(cl.Session().Credential()), sessionAAD(st.ID)) }); err != nil {
		_ = cl.Logout(ctx)
		return "INTERNAL_ERROR"
	}
	users, err := cl.ListUsers(ctx)
	if err != nil {
		_ = cl.Logout(ctx)
		return hsmErrorCode(err)
	}
	for _, u := range users {
		// Our own login is one; another means someone (or an earlier KMS) is logged in as
		// kmsuser, and KMS must not rotate the password under it (KMSDG:fix-keystore).
		if u.User == KMSUser && u.ActiveLogins > 1 {
			_ = cl.Logout(ctx)
			return "USER_LOGGED_IN"
		}
		if u.User == KMSUser && u.Role != hsmpb.Role_ROLE_CRYPTO_USER {
			_ = cl.Logout(ctx)
			return "USER_NOT_FOUND"
		}
	}
	next := newKMSUserPassword()
	err = h.updateStore(st.ID, func(r *Record) {
		r.Password, r.Pending = h.host.Seal(pw, passwordAAD(st.ID)), h.host.Seal([]byte(next), passwordAAD(st.ID))
	})
	if err != nil {
		_ = cl.Logout(ctx)
		return "INTERNAL_ERROR"
	}
	if err := cl.ChangePassword(ctx, "", next); err != nil {
		_ = cl.Logout(ctx)
		return hsmErrorCode(err)
	}
	_ = h.updateStore(st.ID, func(r *Record) { r.Password, r.Pending = h.host.Seal([]byte(next), passwordAAD(st.ID)), nil })
	return ""
}

// loginErrorCode names a failed kmsuser login. The node answers CKR_PIN_INCORRECT both for a
// wrong password and for a missing user; its reason code tells them apart.
func loginErrorCode(err error) string {
	switch p11.Code(err) {
	case p11.CKR_PIN_LOCKED:
		return "USER_LOCKED_OUT"
	case p11.CKR_PIN_INCORRECT:
		if p11.Reason(err) == p11.ReasonUserNotFound {
			return "USER_NOT_FOUND"
		}
		return "INVALID_CREDENTIALS"
	}
	return hsmErrorCode(err)
}

// hsmErrorCode names a failed cluster call: an unreachable cluster is NETWORK_ERRORS.
func hsmErrorCode(err error) string {
	if client.Retryable(err) {
		return "NETWORK_ERRORS"
	}
	switch p11.Code(err) {
	case p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_REMOVED, p11.CKR_FUNCTION_CANCELED:
		return "NETWORK_ERRORS"
	}
	return "INTERNAL_ERROR"
}

// newKMSUserPassword is 32 random alphanumeric characters (the kmsuser password rules).
func newKMSUserPassword() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

// Resume connects the stores that were connected when the server last stopped.
func (h *Store) Resume() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, st := range h.stores {
		if st.Connected {
			h.startConnect(id)
		}
	}
}

// Close logs every store out (the host's Close, after it has cancelled Config.Ctx and waited for
// Config.WG).
func (h *Store) Close() { h.DropAll(logoutAndClose) }

// DropAll ends every connection, each client with end, and leaves every store DISCONNECTED.
func (h *Store) DropAll(end func(*client.Client)) {
	h.mu.Lock()
	conns := h.conns
	h.conns = map[string]*storeConn{}
	h.mu.Unlock()
	for _, c := range conns {
		c.cancel()
		if c.cl != nil {
			end(c.cl)
		}
	}
}

// States counts the stores in each connection state (CONNECTED, FAILED, ...), for metrics:
// every state is present, with zero when no store is in it.
func (h *Store) States() map[string]int {
	out := map[string]int{connConnected: 0, connConnecting: 0, connFailed: 0, connDisconnected: 0}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for id := range h.stores {
		st, _ := h.connState(id)
		out[st]++
	}
	return out
}
