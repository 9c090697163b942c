package customstore

import "github.com/hsmsim/hsmsim/kms/awsapi"

// Fail leaves store id FAILED with a ConnectionErrorCode, its connection to the cluster
// dropped (kmsuser logged out), as KMS leaves a store whose cluster it lost; what the store
// persists (whether it should be connected) is kept. It returns what undoes it: a store still
// FAILED with that code goes back where it was, connecting again if it was connected or on the
// way (a fault at the AWS API, package kms/awsapi/fault).
func (h *Store) Fail(id, code string) (undo func(), err error) {
	h.mu.Lock()
	if h.stores[id] == nil {
		h.mu.Unlock()
		return nil, awsapi.NewError(errStoreNotFound, "Custom key store %s was not found.", id)
	}
	before, _ := h.connState(id)
	old := h.conns[id]
	failed := &storeConn{state: connFailed, code: code, cancel: func() {}}
	h.conns[id] = failed
	h.mu.Unlock()
	if old != nil {
		old.cancel()
		if old.cl != nil {
			logoutAndClose(old.cl)
		}
	}
	h.log.Warn("custom key store failed (fault)", "store", id, "code", code)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.conns[id] != failed || h.stores[id] == nil {
			return // disconnected, reconnected or deleted meanwhile: the operator's doing stands
		}
		if before == connConnected || before == connConnecting {
			h.startConnect(id)
			return
		}
		delete(h.conns, id)
	}, nil
}
