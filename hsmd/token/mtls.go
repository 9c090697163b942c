package token

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Mutual TLS between clients and the cluster is the admins' to set, and replicated like any other
// state so every node admits the same clients. The rules follow CloudHSM's "cluster mtls"
// commands (docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-cluster-mtls-register-trust-anchor.html):
// at most two trust anchors, EC P-256/P-384/P-521 or RSA 2048/3072/4096 keys; enforcement needs a
// registered anchor, and the last anchor cannot be removed while it is enforced.

// MaxTrustAnchors is how many client trust anchors a cluster holds.
const MaxTrustAnchors = 2

// CheckTrustAnchor parses a DER certificate and checks it can serve as a client trust anchor: a
// CA certificate with a key of a type CloudHSM accepts. The state machine applies the same check,
// so it is deterministic (x509 parsing and key inspection only).
func CheckTrustAnchor(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor: not an X.509 certificate: %v", err)
	}
	if !c.IsCA {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor %q is not a CA certificate", c.Subject.CommonName)
	}
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor: EC keys must be on P-256, P-384 or P-521")
		}
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n != 2048 && n != 3072 && n != 4096 {
			return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor: RSA keys must be 2048, 3072 or 4096 bits, not %d", n)
		}
	default:
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "trust anchor: the key must be EC or RSA")
	}
	return c, nil
}

// MTLS returns the registered client trust anchors (DER) and whether mutual TLS is enforced.
func (s *State) MTLS() (anchors [][]byte, enforced bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.meta.TrustAnchors), s.meta.MtlsEnforced
}

func applyRegisterTrustAnchor(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdRegisterTrustAnchor)
	if r := s.admin(c.Actor); r != nil {
		return *r, nil
	}
	if _, err := CheckTrustAnchor(c.Certificate); err != nil {
		return Result{RV: p11.Code(err), Msg: err.Error()}, nil
	}
	for _, a := range s.meta.TrustAnchors {
		if bytes.Equal(a, c.Certificate) {
			return fail(p11.CKR_ARGUMENTS_BAD, "trust anchor already registered"), nil
		}
	}
	if len(s.meta.TrustAnchors) >= MaxTrustAnchors {
		return fail(p11.CKR_ACTION_PROHIBITED, "at most %d trust anchors; deregister one first", MaxTrustAnchors), nil
	}
	meta := proto.Clone(s.meta).(*hsmpb.StoredMeta)
	meta.TrustAnchors = append(meta.TrustAnchors, c.Certificate)
	return Result{}, t.putMeta(meta)
}

func applyDeregisterTrustAnchor(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdDeregisterTrustAnchor)
	if r := s.admin(c.Actor); r != nil {
		return *r, nil
	}
	i := slices.IndexFunc(s.meta.TrustAnchors, func(a []byte) bool { return bytes.Equal(a, c.Certificate) })
	if i < 0 {
		return fail(p11.CKR_ARGUMENTS_BAD, "no such trust anchor"), nil
	}
	if s.meta.MtlsEnforced && len(s.meta.TrustAnchors) == 1 {
		return fail(p11.CKR_ACTION_PROHIBITED, "mutual TLS is enforced: the last trust anchor stays until enforcement is off"), nil
	}
	meta := proto.Clone(s.meta).(*hsmpb.StoredMeta)
	meta.TrustAnchors = slices.Delete(meta.TrustAnchors, i, i+1)
	return Result{}, t.putMeta(meta)
}

func applySetMTLSEnforcement(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdSetMTLSEnforcement)
	if r := s.admin(c.Actor); r != nil {
		return *r, nil
	}
	if c.Enforce && len(s.meta.TrustAnchors) == 0 {
		return fail(p11.CKR_ACTION_PROHIBITED, "register a trust anchor before enforcing mutual TLS"), nil
	}
	meta := proto.Clone(s.meta).(*hsmpb.StoredMeta)
	meta.MtlsEnforced = c.Enforce
	return Result{Msg: fmt.Sprintf("mutual TLS enforced: %v", c.Enforce)}, t.putMeta(meta)
}
