package customstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The custom key store API (aws-semantics.md §1): CreateCustomKeyStore, DescribeCustomKeyStores,
// UpdateCustomKeyStore, DeleteCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore,
// each for the caller's account and region. Package kms's handlers call these.

// Exception names of the KMS model (`__type`) that the custom key store operations answer.
const (
	errClusterInUse         = "CloudHsmClusterInUseException"
	errClusterInvalidConfig = "CloudHsmClusterInvalidConfigurationException"
	errClusterNotActive     = "CloudHsmClusterNotActiveException"
	errClusterNotFound      = "CloudHsmClusterNotFoundException"
	errClusterNotRelated    = "CloudHsmClusterNotRelatedException"
	errStoreHasCMKs         = "CustomKeyStoreHasCMKsException"
	errStoreInvalidState    = "CustomKeyStoreInvalidStateException"
	errStoreNameInUse       = "CustomKeyStoreNameInUseException"
	errStoreNotFound        = "CustomKeyStoreNotFoundException"
	errIncorrectTrustAnchor = "IncorrectTrustAnchorException"
	errLimitExceeded        = "LimitExceededException"
	errXksProxyUnreachable  = "XksProxyUriUnreachableException"
)

// maxStores is the custom key store quota per account and region.
const maxStores = 10

// storeFor finds a store of the account and region (callers hold mu).
func (h *Store) storeFor(account, region, id string) (*Record, *awsapi.Error) {
	st := h.stores[id]
	if st == nil || st.Account != account || st.Region != region {
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

// CreateInput is CreateCustomKeyStore's request.
type CreateInput struct {
	CustomKeyStoreName     string
	CloudHsmClusterId      string
	TrustAnchorCertificate string
	KeyStorePassword       string
	CustomKeyStoreType     string
}

// CreateOutput is CreateCustomKeyStore's answer.
type CreateOutput struct {
	CustomKeyStoreId string
}

func newStoreID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return "cks-" + hex.EncodeToString(b)[:17]
}

// Create is CreateCustomKeyStore.
func (h *Store) Create(ctx context.Context, account, region string, in *CreateInput) (*CreateOutput, error) {
	switch in.CustomKeyStoreType {
	case "", "AWS_CLOUDHSM":
	default:
		// An external key store (XKS): KMS must reach its proxy before creating it, and hsmsim has
		// no XKS proxy client, so every proxy is one it cannot reach: the exception KMS answers
		// then (XksProxyUriUnreachableException in the KMS API Reference).
		return nil, awsapi.NewError(errXksProxyUnreachable, "KMS was unable to reach the specified XksProxyUriPath. hsmsim does not connect to external key store proxies.")
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
	cl, clErr := h.lookupCluster(ctx, account, region, in.CloudHsmClusterId)
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, st := range h.stores {
		if st.Account != account || st.Region != region {
			continue
		}
		n++
		if st.Name != in.CustomKeyStoreName {
			continue
		}
		// Creating a store whose properties all match an existing disconnected one returns it
		// (KMSDG:create-keystore).
		state, _ := h.connState(st.ID)
		pw, _ := h.host.Unseal(st.Password, passwordAAD(st.ID))
		if state == connDisconnected && st.ClusterID == in.CloudHsmClusterId && pemEqual([]byte(st.TrustAnchor), []byte(in.TrustAnchorCertificate)) && string(pw) == in.KeyStorePassword {
			return &CreateOutput{CustomKeyStoreId: st.ID}, nil
		}
		return nil, awsapi.NewError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
	}
	if n >= maxStores {
		return nil, awsapi.NewError(errLimitExceeded, "You have reached the maximum number of %d custom key stores in this account and Region.", maxStores)
	}
	if clErr != nil {
		return nil, clErr
	}
	if err := h.checkClusterFree(ctx, cl, ""); err != nil {
		return nil, err
	}
	if err := checkClusterUsable(cl); err != nil {
		return nil, err
	}
	if !pemEqual(cl.TrustAnchorPEM, []byte(in.TrustAnchorCertificate)) {
		return nil, awsapi.NewError(errIncorrectTrustAnchor, "The trust anchor certificate in the request does not match the trust anchor certificate for the specified AWS CloudHSM cluster %s.", cl.ID)
	}
	st := &Record{ID: newStoreID(), Account: account, Region: region, Name: in.CustomKeyStoreName, ClusterID: cl.ID,
		TrustAnchor: in.TrustAnchorCertificate, Created: h.now().UTC()}
	st.Password = h.host.Seal([]byte(in.KeyStorePassword), passwordAAD(st.ID))
	if err := h.host.Put(st); err != nil {
		return nil, err
	}
	h.stores[st.ID] = st
	return &CreateOutput{CustomKeyStoreId: st.ID}, nil
}

// checkClusterFree: a cluster backs at most one store, and no store may use a related cluster
// (callers hold mu; except names the store being updated).
func (h *Store) checkClusterFree(ctx context.Context, cl *cloudhsm.Cluster, except string) *awsapi.Error {
	for _, st := range h.stores {
		if st.ID == except {
			continue
		}
		inUse := st.ClusterID == cl.ID
		if !inUse {
			if other, err := h.dir.Cluster(ctx, st.Account, st.Region, st.ClusterID); err == nil {
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

// Entry is one store as DescribeCustomKeyStores lists it.
type Entry struct {
	CustomKeyStoreId       string
	CustomKeyStoreName     string
	CloudHsmClusterId      string
	TrustAnchorCertificate string
	ConnectionState        string
	ConnectionErrorCode    string `json:",omitempty"`
	CreationDate           *awsapi.Timestamp
	CustomKeyStoreType     string
}

// Describe is every store of DescribeCustomKeyStores, unordered and unpaged: the store of id,
// the store named name, or (neither given) all of the account and region.
func (h *Store) Describe(account, region, id, name string) ([]Entry, error) {
	if id != "" && name != "" {
		return nil, awsapi.NewError(awsapi.ValidationException, "You cannot specify both CustomKeyStoreId and CustomKeyStoreName.")
	}
	h.mu.RLock()
	var all []Entry
	for _, st := range h.stores {
		if st.Account != account || st.Region != region {
			continue
		}
		if (id != "" && st.ID != id) || (name != "" && st.Name != name) {
			continue
		}
		state, code := h.connState(st.ID)
		e := Entry{CustomKeyStoreId: st.ID, CustomKeyStoreName: st.Name, CloudHsmClusterId: st.ClusterID,
			TrustAnchorCertificate: st.TrustAnchor, ConnectionState: state, CreationDate: awsapi.Time(st.Created), CustomKeyStoreType: "AWS_CLOUDHSM"}
		if state == connFailed {
			e.ConnectionErrorCode = code
		}
		all = append(all, e)
	}
	h.mu.RUnlock()
	if len(all) == 0 && (id != "" || name != "") {
		return nil, awsapi.NewError(errStoreNotFound, "Custom key store was not found.")
	}
	return all, nil
}

// ---- UpdateCustomKeyStore, DeleteCustomKeyStore ----

// UpdateInput is UpdateCustomKeyStore's request.
type UpdateInput struct {
	CustomKeyStoreId      string
	NewCustomKeyStoreName string
	KeyStorePassword      string
	CloudHsmClusterId     string
}

// Update is UpdateCustomKeyStore.
func (h *Store) Update(ctx context.Context, account, region string, in *UpdateInput) error {
	var cl *cloudhsm.Cluster
	if in.CloudHsmClusterId != "" {
		var err error
		if cl, err = h.lookupCluster(ctx, account, region, in.CloudHsmClusterId); err != nil {
			return err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, rerr := h.storeFor(account, region, in.CustomKeyStoreId)
	if rerr != nil {
		return rerr
	}
	state, _ := h.connState(cur.ID)
	if in.KeyStorePassword != "" || in.CloudHsmClusterId != "" {
		if state != connDisconnected {
			return awsapi.NewError(errStoreInvalidState, "The custom key store %s must be disconnected to change its password or cluster. Its connection state is %s.", cur.ID, state)
		}
	} else if state != connDisconnected && state != connConnected {
		return awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s; it can be renamed only while CONNECTED or DISCONNECTED.", cur.ID, state)
	}
	st := *cur
	if in.NewCustomKeyStoreName != "" && in.NewCustomKeyStoreName != cur.Name {
		for _, o := range h.stores {
			if o.Account == account && o.Region == region && o.Name == in.NewCustomKeyStoreName {
				return awsapi.NewError(errStoreNameInUse, "The specified custom key store name is already assigned to another custom key store in the account.")
			}
		}
		st.Name = in.NewCustomKeyStoreName
	}
	if cl != nil && cl.ID != cur.ClusterID {
		old, err := h.dir.Cluster(ctx, account, region, cur.ClusterID)
		// The original cluster may be gone (that is when one restores a backup and moves the
		// store); then the trust anchor it was created with stands in for its lineage.
		related := (err == nil && related(cl, old)) || (err != nil && pemEqual(cl.TrustAnchorPEM, []byte(cur.TrustAnchor)))
		if !related {
			return awsapi.NewError(errClusterNotRelated, "The specified AWS CloudHSM cluster %s has a different cluster certificate than the original cluster. You cannot use it with this custom key store.", cl.ID)
		}
		if err := h.checkClusterFree(ctx, cl, cur.ID); err != nil {
			return err
		}
		if err := checkClusterUsable(cl); err != nil {
			return err
		}
		st.ClusterID = cl.ID
	}
	if in.KeyStorePassword != "" {
		// This tells KMS the kmsuser password; it does not change it in the cluster.
		st.Password, st.Pending = h.host.Seal([]byte(in.KeyStorePassword), passwordAAD(st.ID)), nil
	}
	if err := h.host.Put(&st); err != nil {
		return err
	}
	h.stores[st.ID] = &st
	return nil
}

// Delete is DeleteCustomKeyStore.
func (h *Store) Delete(account, region, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	st, rerr := h.storeFor(account, region, id)
	if rerr != nil {
		return rerr
	}
	if state, _ := h.connState(st.ID); state != connDisconnected {
		return awsapi.NewError(errStoreInvalidState, "The custom key store %s must be disconnected before it is deleted. Its connection state is %s.", st.ID, state)
	}
	if h.host.HasKeys(st.ID) {
		return awsapi.NewError(errStoreHasCMKs, "The custom key store %s contains KMS keys. Schedule their deletion and wait until they are deleted.", st.ID)
	}
	if err := h.host.Delete(st.ID); err != nil {
		return err
	}
	delete(h.stores, st.ID)
	return nil
}

// ---- Connect, Disconnect ----

// Connect is ConnectCustomKeyStore: it starts connecting and returns.
func (h *Store) Connect(ctx context.Context, account, region, id string) error {
	h.mu.RLock()
	st, rerr := h.storeFor(account, region, id)
	h.mu.RUnlock()
	if rerr != nil {
		return rerr
	}
	// An inactive cluster is refused now; a missing one becomes CLUSTER_NOT_FOUND, asynchronously.
	if cl, err := h.dir.Cluster(ctx, account, region, st.ClusterID); err == nil && cl.State != "ACTIVE" {
		return awsapi.NewError(errClusterNotActive, "The AWS CloudHSM cluster %s is not active. Initialize and activate the cluster and try the request again.", cl.ID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st, rerr = h.storeFor(account, region, id)
	if rerr != nil {
		return rerr
	}
	switch state, _ := h.connState(st.ID); state {
	case connConnected, connConnecting:
		return nil // already there or on the way
	case connFailed, connDisconnecting:
		return awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s. Disconnect it before connecting it again.", st.ID, state)
	}
	if !st.Connected {
		upd := *st
		upd.Connected = true
		if err := h.host.Put(&upd); err != nil {
			return err
		}
		h.stores[upd.ID] = &upd
	}
	h.startConnect(st.ID)
	return nil
}

// Disconnect is DisconnectCustomKeyStore.
func (h *Store) Disconnect(account, region, id string) error {
	h.mu.Lock()
	st, rerr := h.storeFor(account, region, id)
	if rerr != nil {
		h.mu.Unlock()
		return rerr
	}
	conn := h.conns[st.ID]
	if conn == nil || conn.state == connDisconnecting {
		state, _ := h.connState(st.ID)
		h.mu.Unlock()
		return awsapi.NewError(errStoreInvalidState, "The custom key store %s is %s.", st.ID, state)
	}
	upd := *st
	upd.Connected = false
	if err := h.host.Put(&upd); err != nil {
		h.mu.Unlock()
		return err
	}
	h.stores[upd.ID] = &upd
	delete(h.conns, st.ID)
	conn.cancel()
	h.mu.Unlock()
	if conn.cl != nil {
		logoutAndClose(conn.cl)
	}
	h.log.Info("custom key store disconnected", "store", st.ID)
	return nil
}
