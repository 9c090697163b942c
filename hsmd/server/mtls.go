package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Mutual TLS with clients, as CloudHSM's "cluster mtls": the registered trust anchors join the
// cluster's own CA in the pool client certificates are verified against, at every handshake (so
// an anchor registered anywhere in the cluster counts on every node at once), and once an admin
// enforces mutual TLS a client that shows no certificate from a registered anchor is refused at
// the handshake, as a CloudHSM client without one cannot connect. The nodes' own certificates
// (from the cluster's CA, naming an HSM) always pass: the nodes talk to each other on this port.

// errMTLSRequired is the handshake's refusal of a client without a certificate.
var errMTLSRequired = errors.New("hsmsim: this cluster enforces mutual TLS: connect with a client certificate issued by a registered trust anchor (hsmsim cluster mtls list-trust-anchors)")

// ServerTLS wraps the node's TLS configuration (server certificate, and the cluster's CA as the
// base pool of client CAs) with the cluster's client trust anchors and enforcement. isNode tells
// a node's certificate name from others (nil: no node connects here).
func (n *Node) ServerTLS(base *tls.Config, isNode func(commonName string) bool) *tls.Config {
	out := base.Clone()
	var last atomic.Pointer[mtlsConfig] // the config made for the settings seen last
	out.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		s := n.State()
		if s == nil {
			return nil, nil // not yet in a cluster: the base configuration
		}
		anchors, enforced := s.MTLS()
		if len(anchors) == 0 {
			return nil, nil
		}
		// The settings change rarely; a handshake reuses the config made for them.
		if c := last.Load(); c != nil && c.enforced == enforced && slices.EqualFunc(c.anchors, anchors, bytes.Equal) {
			return c.cfg, nil
		}
		c := &mtlsConfig{anchors: anchors, enforced: enforced, cfg: clientAuthConfig(base, anchors, enforced, isNode)}
		last.Store(c)
		return c.cfg, nil
	}
	return out
}

// mtlsConfig is the TLS configuration made for one state of the cluster's mutual-TLS settings.
type mtlsConfig struct {
	anchors  [][]byte
	enforced bool
	cfg      *tls.Config
}

// clientAuthConfig is base with the anchors added to the client CAs and, when enforced, the
// refusal of clients that show neither an anchor's certificate nor a node's.
func clientAuthConfig(base *tls.Config, anchors [][]byte, enforced bool, isNode func(string) bool) *tls.Config {
	cfg := base.Clone()
	// gRPC negotiates HTTP/2 by ALPN; the config returned by GetConfigForClient replaces the one
	// gRPC prepared, so it must offer h2 itself.
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append(cfg.NextProtos, "h2")
	}
	pool := x509.NewCertPool()
	if base.ClientCAs != nil {
		pool = base.ClientCAs.Clone()
	}
	for _, der := range anchors {
		if c, err := x509.ParseCertificate(der); err == nil {
			pool.AddCert(c)
		}
	}
	cfg.ClientCAs = pool
	if enforced {
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if !fromAnchor(cs, anchors) && !isNodePeer(cs, base.ClientCAs, isNode) {
				return errMTLSRequired
			}
			return nil
		}
	}
	return cfg
}

// fromAnchor says whether the peer's verified chain ends at one of the registered anchors.
func fromAnchor(cs tls.ConnectionState, anchors [][]byte) bool {
	for _, chain := range cs.VerifiedChains {
		if len(chain) == 0 {
			continue
		}
		root := chain[len(chain)-1].Raw
		if slices.ContainsFunc(anchors, func(a []byte) bool { return bytes.Equal(a, root) }) {
			return true
		}
	}
	return false
}

// isNodePeer says whether the peer is another HSM of the cluster: a certificate from the
// cluster's own CA naming an HSM id.
func isNodePeer(cs tls.ConnectionState, clusterCAs *x509.CertPool, isNode func(string) bool) bool {
	if isNode == nil || clusterCAs == nil || len(cs.PeerCertificates) == 0 {
		return false
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: clusterCAs, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	return err == nil && isNode(leaf.Subject.CommonName)
}

// anchorDER reads the PEM certificate of a trust-anchor request.
func anchorDER(r *hsmpb.TrustAnchorRequest) ([]byte, error) {
	b, _ := pem.Decode(r.GetCertificate())
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor: no PEM CERTIFICATE block")
	}
	if _, err := token.CheckTrustAnchor(b.Bytes); err != nil {
		return nil, err
	}
	return b.Bytes, nil
}

func (v *service) RegisterTrustAnchor(ctx context.Context, r *hsmpb.TrustAnchorRequest) (*hsmpb.Empty, error) {
	return v.anchorCommand(ctx, r, token.CmdRegisterTrustAnchor, func(actor string, der []byte) proto.Message {
		return &hsmpb.CmdRegisterTrustAnchor{Actor: actor, Certificate: der}
	})
}

func (v *service) DeregisterTrustAnchor(ctx context.Context, r *hsmpb.TrustAnchorRequest) (*hsmpb.Empty, error) {
	return v.anchorCommand(ctx, r, token.CmdDeregisterTrustAnchor, func(actor string, der []byte) proto.Message {
		return &hsmpb.CmdDeregisterTrustAnchor{Actor: actor, Certificate: der}
	})
}

// anchorCommand is an admin's change of the trust anchors: the PEM read and checked here, the
// change applied by the state machine.
func (v *service) anchorCommand(ctx context.Context, r *hsmpb.TrustAnchorRequest, t token.CommandType, msg func(actor string, der []byte) proto.Message) (*hsmpb.Empty, error) {
	c, err := adminUser(ctx)
	if err != nil {
		return nil, err
	}
	der, err := anchorDER(r)
	if err != nil {
		return nil, err
	}
	return v.apply(ctx, t, msg(c.user.Name, der))
}

// ListTrustAnchors needs no login, as CloudHSM's list-trust-anchors.
func (v *service) ListTrustAnchors(context.Context, *hsmpb.Empty) (*hsmpb.TrustAnchorsResponse, error) {
	s, err := v.n.ready()
	if err != nil {
		return nil, err
	}
	anchors, enforced := s.MTLS()
	out := &hsmpb.TrustAnchorsResponse{Enforced: enforced}
	for _, der := range anchors {
		out.Certificates = append(out.Certificates, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	return out, nil
}

// SetMTLSEnforcement turns enforcement on or off. Turning it on from a connection that is not
// itself mutual TLS with a registered anchor is refused: the admin would lock every client out,
// itself included, with no certificate to get back in.
func (v *service) SetMTLSEnforcement(ctx context.Context, r *hsmpb.MTLSEnforcementRequest) (*hsmpb.Empty, error) {
	c, err := adminUser(ctx)
	if err != nil {
		return nil, err
	}
	if r.Enforce {
		s, err := v.n.ready()
		if err != nil {
			return nil, err
		}
		anchors, _ := s.MTLS()
		p, ok := peer.FromContext(ctx)
		ti, tok := p.AuthInfo.(credentials.TLSInfo)
		if !ok || !tok || !fromAnchor(ti.State, anchors) {
			return nil, p11.Errorf(p11.CKR_ACTION_PROHIBITED, "enforce mutual TLS from a connection that uses a client certificate of a registered trust anchor")
		}
	}
	return v.apply(ctx, token.CmdSetMTLSEnforcement, &hsmpb.CmdSetMTLSEnforcement{Actor: c.user.Name, Enforce: r.Enforce})
}
