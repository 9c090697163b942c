package kms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Custom key stores of type AWS_CLOUDHSM (aws-semantics.md §1).
//
// Connection state machine, per store, held in memory (s.conns; absent = DISCONNECTED):
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

	kmsUser = "kmsuser"
	// maxStores is the custom key store quota per account and region.
	maxStores = 10
)

// hsmSession is what the KMS does with a connected cluster (a *client.Client logged in as
// kmsuser).
type hsmSession interface {
	Encrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, ckm.Mechanism, error)
	Decrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, error)
	GenerateRandom(ctx context.Context, n uint32) ([]byte, error)
}

type storeConn struct {
	state  string
	code   string
	cl     *client.Client
	cancel context.CancelFunc
}

func (s *Server) storeConnected(id string) bool {
	c := s.conns[id]
	return c != nil && c.state == connConnected
}

func (s *Server) connState(id string) (state, code string) {
	c := s.conns[id]
	if c == nil {
		return connDisconnected, ""
	}
	return c.state, c.code
}

// session is the logged-in client of a connected store, or nil (callers hold s.mu).
func (s *Server) session(id string) hsmSession {
	c := s.conns[id]
	if c == nil || c.state != connConnected || c.cl == nil {
		return nil
	}
	return c.cl
}

func (s *Server) storeFor(c *caller, id string) (*storeRec, *Error) {
	st := s.stores[id]
	if st == nil || st.Account != c.Account || st.Region != c.Region {
		return nil, newError(errStoreNotFound, "Custom key store %s was not found.", id)
	}
	return st, nil
}

func pemEqual(a, b []byte) bool {
	da, db := pemDER(a), pemDER(b)
	return da != nil && db != nil && bytes.Equal(da, db)
}

// pemDER is the DER of the first PEM block (nil when there is none), so whitespace and line
// endings do not decide whether two certificates are the same.
func pemDER(b []byte) []byte {
	blk, _ := pem.Decode(bytes.TrimSpace(b))
	if blk == nil {
		return nil
	}
	return blk.Bytes
}

func (s *Server) directory() ClusterDirectory {
	if s.cfg.Clusters == nil {
		return noClusters{}
	}
	return s.cfg.Clusters
}

type noClusters struct{}

func (noClusters) Cluster(context.Context, string, string, string) (*Cluster, error) {
	return nil, ErrClusterNotFound
}
func (noClusters) Dial(context.Context, *Cluster) (*client.Client, error) {
	return nil, ErrClusterNotFound
}

// lookupCluster answers CloudHsmClusterNotFoundException for a missing cluster.
func (s *Server) lookupCluster(ctx context.Context, c *caller, id string) (*Cluster, error) {
	cl, err := s.directory().Cluster(ctx, c.Account, c.Region, id)
	if errors.Is(err, ErrClusterNotFound) {
		return nil, newError(errClusterNotFound, "AWS CloudHSM cluster %s not found.", id)
	}
	return cl, err
}

// checkClusterUsable: active, with two active HSMs in different AZs (CreateCustomKeyStore,
// UpdateCustomKeyStore with a new cluster, CreateKey).
func checkClusterUsable(cl *Cluster) *Error {
	if cl.State != "ACTIVE" {
		return newError(errClusterNotActive, "The AWS CloudHSM cluster %s is not active. Initialize and activate the cluster and try the request again.", cl.ID)
	}
	if _, azs := cl.activeAZs(); azs < 2 {
		return newError(errClusterInvalidConfig, "The AWS CloudHSM cluster %s must contain at least two active HSMs, each in a different Availability Zone in the Region.", cl.ID)
	}
	return nil
}

// ---- CreateCustomKeyStore ----

type createStoreInput struct {
	CustomKeyStoreName     string
	CloudHsmClusterId      string
	TrustAnchorCertificate string
	KeyStorePassword       string
	CustomKeyStoreType     string
}

type createStoreOutput struct {
	CustomKeyStoreId string
}

func newStoreID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "cks-" + hex.EncodeToString(b)[:17]
}

func passwordAAD(id string) string { return "kmsuser-password:" + id }

func createCustomKeyStore(s *Server, ctx context.Context, c *caller, in *createStoreInput) (*createStoreOutput, error) {
	switch in.CustomKeyStoreType {
	case "", "AWS_CLOUDHSM":
	default:
		return nil, newError(errUnsupported, "hsmsim does not support custom key stores of type %s.", in.CustomKeyStoreType)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"cloudHsmClusterId", in.CloudHsmClusterId}, {"trustAnchorCertificate", in.TrustAnchorCertificate}, {"keyStorePassword", in.KeyStorePassword}} {
		if f.v == "" {
			missing = append(missing, "Value null at '"+f.name+"' failed to satisfy constraint: Member must not be null")
		}
	}
	if len(missing) > 0 {
		return nil, newError(errValidation, "%d validation error(s) detected: %s", len(missing), strings.Join(missing, "; "))
	}
	// The cluster is looked up before taking the lock: a directory may be slow.
	cl, clErr := s.lookupCluster(ctx, c, in.CloudHsmClusterId)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.stores {
		if st.Account != c.Account || st.Region != c.Region {
			continue
		}
		n++
		if st.Name != in.CustomKeyStoreName {
			continue
		}
		// Creating a store whose properties all match an existing disconnected one returns it
		// (KMSDG:create-keystore).
		state, _ := s.connState(st.ID)
		pw, _ := s.unsealBytes(st.Password, passwordAAD(st.ID))
		if state == connDisconnected && st.ClusterID == in.CloudHsmClusterId && pemEqual([]byte(st.TrustAnchor), []byte(in.TrustAnchorCertificate)) && string(pw) == in.KeyStorePassword {
			return &createStoreOutput{CustomKeyStoreId: st.ID}, nil
		}
		return nil, newError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
	}
	if n >= maxStores {
		return nil, newError(errLimitExceeded, "You have reached the maximum number of %d custom key stores in this account and Region.", maxStores)
	}
	if clErr != nil {
		return nil, clErr
	}
	if err := s.checkClusterFree(ctx, c, cl, ""); err != nil {
		return nil, err
	}
	if err := checkClusterUsable(cl); err != nil {
		return nil, err
	}
	if !pemEqual(cl.TrustAnchorPEM, []byte(in.TrustAnchorCertificate)) {
		return nil, newError(errIncorrectTrustAnchor, "The trust anchor certificate in the request does not match the trust anchor certificate for the specified AWS CloudHSM cluster %s.", cl.ID)
	}
	st := &storeRec{ID: newStoreID(), Account: c.Account, Region: c.Region, Name: in.CustomKeyStoreName, ClusterID: cl.ID,
		TrustAnchor: in.TrustAnchorCertificate, Created: s.now().UTC()}
	st.Password = s.sealBytes([]byte(in.KeyStorePassword), passwordAAD(st.ID))
	if err := s.put(bucketStores, st.ID, st); err != nil {
		return nil, err
	}
	s.stores[st.ID] = st
	return &createStoreOutput{CustomKeyStoreId: st.ID}, nil
}

// checkClusterFree: a cluster backs at most one store, and no store may use a related cluster
// (callers hold s.mu; except names the store being updated).
func (s *Server) checkClusterFree(ctx context.Context, c *caller, cl *Cluster, except string) *Error {
	for _, st := range s.stores {
		if st.ID == except {
			continue
		}
		inUse := st.ClusterID == cl.ID
		if !inUse {
			if other, err := s.directory().Cluster(ctx, st.Account, st.Region, st.ClusterID); err == nil {
				inUse = cl.related(other)
			}
		}
		if inUse {
			return newError(errClusterInUse, "The specified AWS CloudHSM cluster %s is already associated with a custom key store or it shares a backup history with a cluster that is associated with a custom key store.", cl.ID)
		}
	}
	return nil
}

// ---- DescribeCustomKeyStores ----

type describeStoresInput struct {
	CustomKeyStoreId   string
	CustomKeyStoreName string
	Limit              *int
	Marker             *string
}

type storeEntry struct {
	CustomKeyStoreId       string
	CustomKeyStoreName     string
	CloudHsmClusterId      string
	TrustAnchorCertificate string
	ConnectionState        string
	ConnectionErrorCode    string `json:",omitempty"`
	CreationDate           *epoch
	CustomKeyStoreType     string
}

type describeStoresOutput struct {
	CustomKeyStores []storeEntry
	NextMarker      string `json:",omitempty"`
	Truncated       bool
}

func describeCustomKeyStores(s *Server, _ context.Context, c *caller, in *describeStoresInput) (*describeStoresOutput, error) {
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, newError(errValidation, "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.")
	}
	s.mu.RLock()
	var all []storeEntry
	for _, st := range s.stores {
		if st.Account != c.Account || st.Region != c.Region {
			continue
		}
		if (in.CustomKeyStoreId != "" && st.ID != in.CustomKeyStoreId) || (in.CustomKeyStoreName != "" && st.Name != in.CustomKeyStoreName) {
			continue
		}
		state, code := s.connState(st.ID)
		e := storeEntry{CustomKeyStoreId: st.ID, CustomKeyStoreName: st.Name, CloudHsmClusterId: st.ClusterID,
			TrustAnchorCertificate: st.TrustAnchor, ConnectionState: state, CreationDate: ts(st.Created), CustomKeyStoreType: "AWS_CLOUDHSM"}
		if state == connFailed {
			e.ConnectionErrorCode = code
		}
		all = append(all, e)
	}
	s.mu.RUnlock()
	if len(all) == 0 && (in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "") {
		return nil, newError(errStoreNotFound, "Custom key store was not found.")
	}
	items, next, trunc, err := page(all, func(e storeEntry) string { return e.CustomKeyStoreId }, in.Limit, 1000, in.Marker)
	if err != nil {
		return nil, err
	}
	return &describeStoresOutput{CustomKeyStores: append([]storeEntry{}, items...), NextMarker: next, Truncated: trunc}, nil
}

// ---- UpdateCustomKeyStore, DeleteCustomKeyStore ----

type updateStoreInput struct {
	CustomKeyStoreId      string
	NewCustomKeyStoreName string
	KeyStorePassword      string
	CloudHsmClusterId     string
}

func updateCustomKeyStore(s *Server, ctx context.Context, c *caller, in *updateStoreInput) (*empty, error) {
	var cl *Cluster
	if in.CloudHsmClusterId != "" {
		var err error
		if cl, err = s.lookupCluster(ctx, c, in.CloudHsmClusterId); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, rerr := s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		return nil, rerr
	}
	state, _ := s.connState(cur.ID)
	if in.KeyStorePassword != "" || in.CloudHsmClusterId != "" {
		if state != connDisconnected {
			return nil, newError(errStoreInvalidState, "The custom key store %s must be disconnected to change its password or cluster. Its connection state is %s.", cur.ID, state)
		}
	} else if state != connDisconnected && state != connConnected {
		return nil, newError(errStoreInvalidState, "The custom key store %s is %s; it can be renamed only while CONNECTED or DISCONNECTED.", cur.ID, state)
	}
	st := *cur
	if in.NewCustomKeyStoreName != "" && in.NewCustomKeyStoreName != cur.Name {
		for _, o := range s.stores {
			if o.Account == c.Account && o.Region == c.Region && o.Name == in.NewCustomKeyStoreName {
				return nil, newError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
			}
		}
		st.Name = in.NewCustomKeyStoreName
	}
	if cl != nil && cl.ID != cur.ClusterID {
		old, err := s.directory().Cluster(ctx, c.Account, c.Region, cur.ClusterID)
		// The original cluster may be gone (that is when one restores a backup and moves the
		// store); then the trust anchor it was created with stands in for its lineage.
		related := (err == nil && cl.related(old)) || (err != nil && pemEqual(cl.TrustAnchorPEM, []byte(cur.TrustAnchor)))
		if !related {
			return nil, newError(errClusterNotRelated, "The specified AWS CloudHSM cluster %s has a different cluster certificate than the original cluster. You cannot use it with this custom key store.", cl.ID)
		}
		if err := s.checkClusterFree(ctx, c, cl, cur.ID); err != nil {
			return nil, err
		}
		if err := checkClusterUsable(cl); err != nil {
			return nil, err
		}
		st.ClusterID = cl.ID
	}
	if in.KeyStorePassword != "" {
		// This tells KMS the kmsuser password; it does not change it in the cluster.
		st.Password, st.Pending = s.sealBytes([]byte(in.KeyStorePassword), passwordAAD(st.ID)), nil
	}
	if err := s.put(bucketStores, st.ID, &st); err != nil {
		return nil, err
	}
	s.stores[st.ID] = &st
	return nil, nil
}

type storeIDInput struct {
	CustomKeyStoreId string
}

func deleteCustomKeyStore(s *Server, _ context.Context, c *caller, in *storeIDInput) (*empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, rerr := s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		return nil, rerr
	}
	if state, _ := s.connState(st.ID); state != connDisconnected {
		return nil, newError(errStoreInvalidState, "The custom key store %s must be disconnected before it is deleted. Its connection state is %s.", st.ID, state)
	}
	for _, k := range s.keys {
		if k.StoreID == st.ID {
			return nil, newError(errStoreHasCMKs, "The custom key store %s contains KMS keys. Schedule their deletion and wait until they are deleted.", st.ID)
		}
	}
	if err := s.del(bucketStores, st.ID); err != nil {
		return nil, err
	}
	delete(s.stores, st.ID)
	return nil, nil
}

// ---- Connect, Disconnect ----

func connectCustomKeyStore(s *Server, ctx context.Context, c *caller, in *storeIDInput) (*empty, error) {
	s.mu.RLock()
	st, rerr := s.storeFor(c, in.CustomKeyStoreId)
	s.mu.RUnlock()
	if rerr != nil {
		return nil, rerr
	}
	// An inactive cluster is refused now; a missing one becomes CLUSTER_NOT_FOUND, asynchronously.
	if cl, err := s.directory().Cluster(ctx, c.Account, c.Region, st.ClusterID); err == nil && cl.State != "ACTIVE" {
		return nil, newError(errClusterNotActive, "The AWS CloudHSM cluster %s is not active. Initialize and activate the cluster and try the request again.", cl.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, rerr = s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		return nil, rerr
	}
	switch state, _ := s.connState(st.ID); state {
	case connConnected, connConnecting:
		return nil, nil // already there or on the way
	case connFailed, connDisconnecting:
		return nil, newError(errStoreInvalidState, "The custom key store %s is %s. Disconnect it before connecting it again.", st.ID, state)
	}
	if !st.Connected {
		upd := *st
		upd.Connected = true
		if err := s.put(bucketStores, upd.ID, &upd); err != nil {
			return nil, err
		}
		s.stores[upd.ID] = &upd
	}
	s.startConnect(st.ID)
	return nil, nil
}

// startConnect begins connecting a store (callers hold s.mu).
func (s *Server) startConnect(id string) {
	ctx, cancel := context.WithTimeout(s.bgCtx, 2*time.Minute)
	conn := &storeConn{state: connConnecting, cancel: cancel}
	s.conns[id] = conn
	s.log.Info("custom key store connecting", "store", id)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		cl, code := s.connect(ctx, id)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.conns[id] != conn { // disconnected (or reconnected) meanwhile
			if cl != nil {
				logoutAndClose(cl)
			}
			return
		}
		if code != "" {
			conn.state, conn.code = connFailed, code
			s.log.Warn("custom key store connection failed", "store", id, "code", code)
			return
		}
		conn.state, conn.cl = connConnected, cl
		s.log.Info("custom key store connected", "store", id)
	}()
}

func logoutAndClose(cl *client.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = cl.Logout(ctx)
	_ = cl.Close()
}

// connect does what ConnectCustomKeyStore does in the background and names what went wrong with
// a ConnectionErrorCode ("" on success).
func (s *Server) connect(ctx context.Context, id string) (*client.Client, string) {
	s.mu.RLock()
	st := s.stores[id]
	s.mu.RUnlock()
	if st == nil {
		return nil, "INTERNAL_ERROR"
	}
	cluster, err := s.directory().Cluster(ctx, st.Account, st.Region, st.ClusterID)
	if errors.Is(err, ErrClusterNotFound) {
		return nil, "CLUSTER_NOT_FOUND"
	}
	if err != nil {
		return nil, "INTERNAL_ERROR"
	}
	if n, _ := cluster.activeAZs(); n == 0 {
		return nil, "INSUFFICIENT_CLOUDHSM_HSMS"
	}
	cl, err := s.directory().Dial(ctx, cluster)
	if err != nil {
		return nil, "NETWORK_ERRORS"
	}
	code := s.loginKMSUser(ctx, cl, st)
	if code != "" {
		_ = cl.Close()
		return nil, code
	}
	return cl, ""
}

// updateStore persists f applied to a copy of store id's record (callers do not hold s.mu).
func (s *Server) updateStore(id string, f func(*storeRec)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.stores[id]
	if cur == nil {
		return fmt.Errorf("kms: custom key store %s is gone", id)
	}
	upd := *cur
	f(&upd)
	if err := s.put(bucketStores, upd.ID, &upd); err != nil {
		return err
	}
	s.stores[upd.ID] = &upd
	return nil
}

func sessionAAD(id string) string { return "kmsuser-session:" + id }

// endStaleLogin logs out the kmsuser login an earlier run of this KMS left behind when it
// stopped without disconnecting (a crash): on CloudHSM that session ends with its connection,
// here the KMS ends it itself, so its own old login is not taken for USER_LOGGED_IN.
func (s *Server) endStaleLogin(ctx context.Context, cl *client.Client, st *storeRec) {
	if st.Session == nil {
		return
	}
	if cred, err := s.unsealBytes(st.Session, sessionAAD(st.ID)); err == nil {
		cl.Session().SetCredential(string(cred))
		_ = cl.Logout(ctx) // already gone is fine too
		cl.Session().SetCredential("")
	}
	_ = s.updateStore(st.ID, func(r *storeRec) { r.Session = nil })
}

// loginKMSUser logs cl in as kmsuser and rotates its password.
func (s *Server) loginKMSUser(ctx context.Context, cl *client.Client, st *storeRec) string {
	pw, err := s.unsealBytes(st.Password, passwordAAD(st.ID))
	if err != nil {
		return "INTERNAL_ERROR"
	}
	s.endStaleLogin(ctx, cl, st)
	_, err = cl.Login(ctx, kmsUser, string(pw))
	if err != nil && p11.Code(err) == p11.CKR_PIN_INCORRECT && st.Pending != nil {
		// A rotation was interrupted after the cluster may have taken the new password.
		if pending, perr := s.unsealBytes(st.Pending, passwordAAD(st.ID)); perr == nil {
			_, err = cl.Login(ctx, kmsUser, string(pending))
			pw = pending
		}
	}
	if err != nil {
		return loginErrorCode(err)
	}
	if err := s.updateStore(st.ID, func(r *storeRec) { r.Session = s.sealBytes([]byte(cl.Session().Credential()), sessionAAD(st.ID)) }); err != nil {
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
		if u.User == kmsUser && u.ActiveLogins > 1 {
			_ = cl.Logout(ctx)
			return "USER_LOGGED_IN"
		}
		if u.User == kmsUser && u.Role != hsmpb.Role_ROLE_CRYPTO_USER {
			_ = cl.Logout(ctx)
			return "USER_NOT_FOUND"
		}
	}
	next := newKMSUserPassword()
	err = s.updateStore(st.ID, func(r *storeRec) {
		r.Password, r.Pending = s.sealBytes(pw, passwordAAD(st.ID)), s.sealBytes([]byte(next), passwordAAD(st.ID))
	})
	if err != nil {
		_ = cl.Logout(ctx)
		return "INTERNAL_ERROR"
	}
	if err := cl.ChangePassword(ctx, "", next); err != nil {
		_ = cl.Logout(ctx)
		return hsmErrorCode(err)
	}
	_ = s.updateStore(st.ID, func(r *storeRec) { r.Password, r.Pending = s.sealBytes([]byte(next), passwordAAD(st.ID)), nil })
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

func disconnectCustomKeyStore(s *Server, _ context.Context, c *caller, in *storeIDInput) (*empty, error) {
	s.mu.Lock()
	st, rerr := s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		s.mu.Unlock()
		return nil, rerr
	}
	conn := s.conns[st.ID]
	if conn == nil || conn.state == connDisconnecting {
		state, _ := s.connState(st.ID)
		s.mu.Unlock()
		return nil, newError(errStoreInvalidState, "The custom key store %s is %s.", st.ID, state)
	}
	upd := *st
	upd.Connected = false
	if err := s.put(bucketStores, upd.ID, &upd); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.stores[upd.ID] = &upd
	delete(s.conns, st.ID)
	conn.cancel()
	s.mu.Unlock()
	if conn.cl != nil {
		logoutAndClose(conn.cl)
	}
	s.log.Info("custom key store disconnected", "store", st.ID)
	return nil, nil
}

// resumeConnections connects the stores that were connected when the server last stopped.
func (s *Server) resumeConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, st := range s.stores {
		if st.Connected {
			s.startConnect(id)
		}
	}
}

// closeConnections logs every store out (Close).
func (s *Server) closeConnections() {
	s.mu.Lock()
	conns := s.conns
	s.conns = map[string]*storeConn{}
	s.mu.Unlock()
	for _, c := range conns {
		c.cancel()
		if c.cl != nil {
			logoutAndClose(c.cl)
		}
	}
}

// ---- keys in a custom key store ----

// createHSMKey makes the key material of k in the cluster of store id: a token AES-256 key,
// sensitive and non-extractable, owned by kmsuser, labelled with the key ARN.
func (s *Server) createHSMKey(ctx context.Context, c *caller, k *keyRec, id string) error {
	s.mu.RLock()
	st, rerr := s.storeFor(c, id)
	var sess *client.Client
	if rerr == nil {
		if conn := s.conns[id]; conn != nil && conn.state == connConnected {
			sess = conn.cl
		}
	}
	s.mu.RUnlock()
	if rerr != nil {
		return rerr
	}
	if sess == nil {
		state, _ := s.connState(id)
		return newError(errStoreInvalidState, "The custom key store %s is not connected (connection state %s).", id, state)
	}
	cl, err := s.lookupCluster(ctx, c, st.ClusterID)
	if err != nil {
		return err
	}
	if _, azs := cl.activeAZs(); azs < 2 {
		return newError(errClusterInvalidConfig, "The AWS CloudHSM cluster %s must contain at least two active HSMs, each in a different Availability Zone in the Region.", cl.ID)
	}
	k.StoreID, k.ClusterID = st.ID, st.ClusterID
	idBytes, _ := hex.DecodeString(strings.ReplaceAll(k.ID, "-", ""))
	tmpl := []attr.Attribute{
		{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)},
		{Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)},
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)},
		{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)},
		{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(false)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)},
		{Type: p11.CKA_DECRYPT, Value: attr.Bool(true)},
		{Type: p11.CKA_LABEL, Value: []byte(keyARN(k))},
		{Type: p11.CKA_ID, Value: idBytes},
	}
	h, err := sess.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, tmpl)
	if err != nil {
		return err
	}
	k.Versions = []matVersion{{N: 1, ID: randomHex(32), Created: k.Created, Handle: h}}
	return nil
}

// destroyHSMKey deletes a deleted key's material from its cluster, best effort: a disconnected
// store leaves it there (KMSDG:fix-keystore, orphaned key material).
func (s *Server) destroyHSMKey(ctx context.Context, k *keyRec) {
	s.mu.RLock()
	var sess *client.Client
	if conn := s.conns[k.StoreID]; conn != nil && conn.state == connConnected {
		sess = conn.cl
	}
	s.mu.RUnlock()
	if sess == nil {
		s.log.Warn("key material left in the cluster: store not connected", "key", keyARN(k), "store", k.StoreID)
		return
	}
	for _, v := range k.Versions {
		if err := sess.DestroyObject(ctx, v.Handle); err != nil {
			s.log.Warn("destroying key material in the cluster", "key", keyARN(k), "handle", v.Handle, "err", err)
		}
	}
}

// storeSessionForRandom: GenerateRandom with a CustomKeyStoreId runs in that store's cluster.
func (s *Server) storeSessionForRandom(c *caller, id string) (hsmSession, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.storeFor(c, id); err != nil {
		return nil, err
	}
	sess := s.session(id)
	if sess == nil {
		state, _ := s.connState(id)
		return nil, newError(errStoreInvalidState, "The custom key store %s is not connected (connection state %s).", id, state)
	}
	return sess, nil
}
