package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The custom key store API (aws-semantics.md §1): CreateCustomKeyStore, DescribeCustomKeyStores,
// UpdateCustomKeyStore, DeleteCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore.
// A store's records are the Server's; its connection and its keys' material are the CloudHSM key
// store's (connect.go, keystore_cloudhsm.go).

// maxStores is the custom key store quota per account and region.
const maxStores = 10

// storeFor finds a store of the caller (callers hold s.mu).
func (s *Server) storeFor(c *caller, id string) (*storeRec, *awsapi.Error) {
	st := s.stores[id]
	if st == nil || st.Account != c.Account || st.Region != c.Region {
		return nil, awsapi.NewError(errStoreNotFound, "Custom key store %s was not found.", id)
	}
	return st, nil
}

// checkClusterUsable: active, with two active HSMs in different AZs (CreateCustomKeyStore,
// UpdateCustomKeyStore with a new cluster, CreateKey).
func checkClusterUsable(cl *cloudhsm.Cluster) *awsapi.Error {
	if cl.State != "ACTIVE" {
		return awsapi.NewError(errClusterNotActive, "The AWS CloudHSM cluster %s is not active. Initialize and activate the cluster and try the request again.", cl.ID)
	}
	return checkClusterAZs(cl)
}

// checkClusterAZs: two active HSMs in different AZs (and CreateKey in a custom key store).
func checkClusterAZs(cl *cloudhsm.Cluster) *awsapi.Error {
	if _, azs := cl.ActiveAZs(); azs < 2 {
		return awsapi.NewError(errClusterInvalidConfig, "The AWS CloudHSM cluster %s must contain at least two active HSMs, each in a different Availability Zone in the Region.", cl.ID)
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

func createCustomKeyStore(s *Server, ctx context.Context, c *caller, in *createStoreInput) (*createStoreOutput, error) {
	switch in.CustomKeyStoreType {
	case "", "AWS_CLOUDHSM":
	default:
		return nil, awsapi.NewError(errUnsupported, "hsmsim does not support custom key stores of type %s.", in.CustomKeyStoreType)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"cloudHsmClusterId", in.CloudHsmClusterId}, {"trustAnchorCertificate", in.TrustAnchorCertificate}, {"keyStorePassword", in.KeyStorePassword}} {
		if f.v == "" {
			missing = append(missing, "Value null at '"+f.name+"' failed to satisfy constraint: Member must not be null")
		}
	}
	if len(missing) > 0 {
		return nil, awsapi.NewError(awsapi.ValidationException, "%d validation error(s) detected: %s", len(missing), strings.Join(missing, "; "))
	}
	// The cluster is looked up before taking the lock: a directory may be slow.
	cl, clErr := s.hsm.lookupCluster(ctx, c, in.CloudHsmClusterId)
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
		state, _ := s.hsm.connState(st.ID)
		pw, _ := s.db.unseal(st.Password, passwordAAD(st.ID))
		if state == connDisconnected && st.ClusterID == in.CloudHsmClusterId && pemEqual([]byte(st.TrustAnchor), []byte(in.TrustAnchorCertificate)) && string(pw) == in.KeyStorePassword {
			return &createStoreOutput{CustomKeyStoreId: st.ID}, nil
		}
		return nil, awsapi.NewError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
	}
	if n >= maxStores {
		return nil, awsapi.NewError(errLimitExceeded, "You have reached the maximum number of %d custom key stores in this account and Region.", maxStores)
	}
	if clErr != nil {
		return nil, clErr
	}
	if err := checkClusterFree(s, ctx, c, cl, ""); err != nil {
		return nil, err
	}
	if err := checkClusterUsable(cl); err != nil {
		return nil, err
	}
	if !pemEqual(cl.TrustAnchorPEM, []byte(in.TrustAnchorCertificate)) {
		return nil, awsapi.NewError(errIncorrectTrustAnchor, "The trust anchor certificate in the request does not match the trust anchor certificate for the specified AWS CloudHSM cluster %s.", cl.ID)
	}
	st := &storeRec{ID: newStoreID(), Account: c.Account, Region: c.Region, Name: in.CustomKeyStoreName, ClusterID: cl.ID,
		TrustAnchor: in.TrustAnchorCertificate, Created: s.now().UTC()}
	st.Password = s.db.seal([]byte(in.KeyStorePassword), passwordAAD(st.ID))
	if err := s.db.put(bucketStores, st.ID, st); err != nil {
		return nil, err
	}
	s.stores[st.ID] = st
	return &createStoreOutput{CustomKeyStoreId: st.ID}, nil
}

// checkClusterFree: a cluster backs at most one store, and no store may use a related cluster
// (callers hold s.mu; except names the store being updated).
func checkClusterFree(s *Server, ctx context.Context, c *caller, cl *cloudhsm.Cluster, except string) *awsapi.Error {
	for _, st := range s.stores {
		if st.ID == except {
			continue
		}
		inUse := st.ClusterID == cl.ID
		if !inUse {
			if other, err := s.hsm.dir.Cluster(ctx, st.Account, st.Region, st.ClusterID); err == nil {
				inUse = related(cl, other)
			}
		}
		if inUse {
			return awsapi.NewError(errClusterInUse, "The specified AWS CloudHSM cluster %s is already associated with a custom key store or it shares a backup history with a cluster that is associated with a custom key store.", cl.ID)
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
	CreationDate           *awsapi.Timestamp
	CustomKeyStoreType     string
}

type describeStoresOutput struct {
	CustomKeyStores []storeEntry
	NextMarker      string `json:",omitempty"`
	Truncated       bool
}

func describeCustomKeyStores(s *Server, _ context.Context, c *caller, in *describeStoresInput) (*describeStoresOutput, error) {
	if in.CustomKeyStoreId != "" && in.CustomKeyStoreName != "" {
		return nil, awsapi.NewError(awsapi.ValidationException, "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.")
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
		state, code := s.hsm.connState(st.ID)
		e := storeEntry{CustomKeyStoreId: st.ID, CustomKeyStoreName: st.Name, CloudHsmClusterId: st.ClusterID,
			TrustAnchorCertificate: st.TrustAnchor, ConnectionState: state, CreationDate: awsapi.Time(st.Created), CustomKeyStoreType: "AWS_CLOUDHSM"}
		if state == connFailed {
			e.ConnectionErrorCode = code
		}
		all = append(all, e)
	}
	s.mu.RUnlock()
	if len(all) == 0 && (in.CustomKeyStoreId != "" || in.CustomKeyStoreName != "") {
		return nil, awsapi.NewError(errStoreNotFound, "Custom key store was not found.")
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
	var cl *cloudhsm.Cluster
	if in.CloudHsmClusterId != "" {
		var err error
		if cl, err = s.hsm.lookupCluster(ctx, c, in.CloudHsmClusterId); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, rerr := s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		return nil, rerr
	}
	state, _ := s.hsm.connState(cur.ID)
	if in.KeyStorePassword != "" || in.CloudHsmClusterId != "" {
		if state != connDisconnected {
			return nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s must be disconnected to change its password or cluster. Its connection state is %s.", cur.ID, state)
		}
	} else if state != connDisconnected && state != connConnected {
		return nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s; it can be renamed only while CONNECTED or DISCONNECTED.", cur.ID, state)
	}
	st := *cur
	if in.NewCustomKeyStoreName != "" && in.NewCustomKeyStoreName != cur.Name {
		for _, o := range s.stores {
			if o.Account == c.Account && o.Region == c.Region && o.Name == in.NewCustomKeyStoreName {
				return nil, awsapi.NewError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
			}
		}
		st.Name = in.NewCustomKeyStoreName
	}
	if cl != nil && cl.ID != cur.ClusterID {
		old, err := s.hsm.dir.Cluster(ctx, c.Account, c.Region, cur.ClusterID)
		// The original cluster may be gone (that is when one restores a backup and moves the
		// store); then the trust anchor it was created with stands in for its lineage.
		related := (err == nil && related(cl, old)) || (err != nil && pemEqual(cl.TrustAnchorPEM, []byte(cur.TrustAnchor)))
		if !related {
			return nil, awsapi.NewError(errClusterNotRelated, "The specified AWS CloudHSM cluster %s has a different cluster certificate than the original cluster. You cannot use it with this custom key store.", cl.ID)
		}
		if err := checkClusterFree(s, ctx, c, cl, cur.ID); err != nil {
			return nil, err
		}
		if err := checkClusterUsable(cl); err != nil {
			return nil, err
		}
		st.ClusterID = cl.ID
	}
	if in.KeyStorePassword != "" {
		// This tells KMS the kmsuser password; it does not change it in the cluster.
		st.Password, st.Pending = s.db.seal([]byte(in.KeyStorePassword), passwordAAD(st.ID)), nil
	}
	if err := s.db.put(bucketStores, st.ID, &st); err != nil {
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
	if state, _ := s.hsm.connState(st.ID); state != connDisconnected {
		return nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s must be disconnected before it is deleted. Its connection state is %s.", st.ID, state)
	}
	for _, k := range s.keys {
		if k.StoreID == st.ID {
			return nil, awsapi.NewError(errStoreHasCMKs, "The custom key store %s contains KMS keys. Schedule their deletion and wait until they are deleted.", st.ID)
		}
	}
	if err := s.db.del(bucketStores, st.ID); err != nil {
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
	if cl, err := s.hsm.dir.Cluster(ctx, c.Account, c.Region, st.ClusterID); err == nil && cl.State != "ACTIVE" {
		return nil, awsapi.NewError(errClusterNotActive, "The AWS CloudHSM cluster %s is not active. Initialize and activate the cluster and try the request again.", cl.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, rerr = s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		return nil, rerr
	}
	switch state, _ := s.hsm.connState(st.ID); state {
	case connConnected, connConnecting:
		return nil, nil // already there or on the way
	case connFailed, connDisconnecting:
		return nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s. Disconnect it before connecting it again.", st.ID, state)
	}
	if !st.Connected {
		upd := *st
		upd.Connected = true
		if err := s.db.put(bucketStores, upd.ID, &upd); err != nil {
			return nil, err
		}
		s.stores[upd.ID] = &upd
	}
	s.hsm.startConnect(st.ID)
	return nil, nil
}
func disconnectCustomKeyStore(s *Server, _ context.Context, c *caller, in *storeIDInput) (*empty, error) {
	s.mu.Lock()
	st, rerr := s.storeFor(c, in.CustomKeyStoreId)
	if rerr != nil {
		s.mu.Unlock()
		return nil, rerr
	}
	conn := s.hsm.conns[st.ID]
	if conn == nil || conn.state == connDisconnecting {
		state, _ := s.hsm.connState(st.ID)
		s.mu.Unlock()
		return nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s.", st.ID, state)
	}
	upd := *st
	upd.Connected = false
	if err := s.db.put(bucketStores, upd.ID, &upd); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.stores[upd.ID] = &upd
	delete(s.hsm.conns, st.ID)
	conn.cancel()
	s.mu.Unlock()
	if conn.cl != nil {
		logoutAndClose(conn.cl)
	}
	s.log.Info("custom key store disconnected", "store", st.ID)
	return nil, nil
}
