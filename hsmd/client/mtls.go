package client

import (
	"context"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// RegisterTrustAnchor registers a PEM CA certificate whose client certificates the cluster
// accepts for mutual TLS (an admin's call).
func (c *Client) RegisterTrustAnchor(ctx context.Context, certPEM []byte) error {
	_, err := c.api.RegisterTrustAnchor(ctx, &hsmpb.TrustAnchorRequest{Certificate: certPEM})
	return err
}

// DeregisterTrustAnchor removes a registered trust anchor (an admin's call).
func (c *Client) DeregisterTrustAnchor(ctx context.Context, certPEM []byte) error {
	_, err := c.api.DeregisterTrustAnchor(ctx, &hsmpb.TrustAnchorRequest{Certificate: certPEM})
	return err
}

// ListTrustAnchors returns the registered trust anchors (PEM) and whether mutual TLS is enforced.
func (c *Client) ListTrustAnchors(ctx context.Context) (anchors [][]byte, enforced bool, err error) {
	r, err := c.api.ListTrustAnchors(ctx, &hsmpb.Empty{})
	return r.GetCertificates(), r.GetEnforced(), err
}

// SetMTLSEnforcement requires (or stops requiring) mutual TLS of every client (an admin's call,
// made over a connection that itself uses a registered anchor's client certificate).
func (c *Client) SetMTLSEnforcement(ctx context.Context, enforce bool) error {
	_, err := c.api.SetMTLSEnforcement(ctx, &hsmpb.MTLSEnforcementRequest{Enforce: enforce})
	return err
}
