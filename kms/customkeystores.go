package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/customstore"
)

// The custom key store API (aws-semantics.md §1): CreateCustomKeyStore, DescribeCustomKeyStores,
// UpdateCustomKeyStore, DeleteCustomKeyStore, ConnectCustomKeyStore, DisconnectCustomKeyStore.
// Package customstore owns the stores, their rules and their connections; these handlers give
// it the caller's account and region (and page DescribeCustomKeyStores).

func createCustomKeyStore(s *Server, ctx context.Context, c *caller, in *customstore.CreateInput) (*customstore.CreateOutput, error) {
	return s.hsm.Create(ctx, c.Account, c.Region, in)
}

type describeStoresInput struct {
	CustomKeyStoreId   string
	CustomKeyStoreName string
	Limit              *int
	Marker             *string
}

type describeStoresOutput struct {
	CustomKeyStores []customstore.Entry
	NextMarker      string `json:",omitempty"`
	Truncated       bool
}

func describeCustomKeyStores(s *Server, _ context.Context, c *caller, in *describeStoresInput) (*describeStoresOutput, error) {
	all, err := s.hsm.Describe(c.Account, c.Region, in.CustomKeyStoreId, in.CustomKeyStoreName)
	if err != nil {
		return nil, err
	}
	items, next, trunc, perr := page(all, func(e customstore.Entry) string { return e.CustomKeyStoreId }, in.Limit, 1000, in.Marker)
	if perr != nil {
		return nil, perr
	}
	return &describeStoresOutput{CustomKeyStores: append([]customstore.Entry{}, items...), NextMarker: next, Truncated: trunc}, nil
}

func updateCustomKeyStore(s *Server, ctx context.Context, c *caller, in *customstore.UpdateInput) (*empty, error) {
	return nil, s.hsm.Update(ctx, c.Account, c.Region, in)
}

type storeIDInput struct {
	CustomKeyStoreId string
}

func deleteCustomKeyStore(s *Server, _ context.Context, c *caller, in *storeIDInput) (*empty, error) {
	return nil, s.hsm.Delete(c.Account, c.Region, in.CustomKeyStoreId)
}

func connectCustomKeyStore(s *Server, ctx context.Context, c *caller, in *storeIDInput) (*empty, error) {
	return nil, s.hsm.Connect(ctx, c.Account, c.Region, in.CustomKeyStoreId)
}

func disconnectCustomKeyStore(s *Server, _ context.Context, c *caller, in *storeIDInput) (*empty, error) {
	return nil, s.hsm.Disconnect(c.Account, c.Region, in.CustomKeyStoreId)
}

// originXKS is the origin of a key in an external key store.
const originXKS = "EXTERNAL_KEY_STORE"

// externalKeyStoreKey answers CreateKey with Origin EXTERNAL_KEY_STORE. hsmsim creates no
// external key stores (CreateCustomKeyStore cannot reach an XKS proxy), so the store named is
// either unknown, CustomKeyStoreNotFoundException, or an AWS CloudHSM key store, which cannot hold
// external keys: UnsupportedOperationException (both in CreateKey's model list).
func (s *Server) externalKeyStoreKey(c *caller, storeID string) error {
	if storeID == "" {
		return awsapi.NewError(awsapi.ValidationException, "Origin EXTERNAL_KEY_STORE requires a CustomKeyStoreId.")
	}
	if _, err := s.hsm.Describe(c.Account, c.Region, storeID, ""); err != nil {
		return err
	}
	return awsapi.NewError(errUnsupported, "Custom key store %s is an AWS CloudHSM key store; keys of origin %s live in an external key store.", storeID, originXKS)
}
