package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/hsmsim/hsmsim/cluster/netsim"
)

// errKilled is what a killed member's dialers answer: a dead process makes no connections.
var errKilled = errors.New("cluster: member is down")

// requireNode is a tls.Config.VerifyConnection hook: the other end must present a certificate
// that chains to the trust anchor (the TLS layer checked the chain) and names an HSM. Client
// certificates of applications (the KMS, tools) chain to the same anchor but are not nodes.
func requireNode(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ErrNotNode
	}
	if cn := cs.VerifiedChains[0][0].Subject.CommonName; !ValidHSMID(cn) {
		return fmt.Errorf("%w: certificate %q", ErrNotNode, cn)
	}
	return nil
}

// raftTLS returns the two sides of the Raft transport's mutual TLS: unlike the gRPC server
// (which lets PIN clients in without a certificate) both ends must be nodes.
func raftTLS(server, client *tls.Config) (srv, cli *tls.Config) {
	srv = server.Clone()
	srv.ClientAuth = tls.RequireAndVerifyClientCert
	srv.VerifyConnection = requireNode
	cli = client.Clone()
	cli.VerifyConnection = requireNode
	return srv, cli
}

// streamLayer is the Raft transport's network: netsim listeners and dialers (so partitions,
// latency and kills apply to Raft traffic) under mutual TLS.
type streamLayer struct {
	net.Listener // TLS over the netsim listener
	nw           *netsim.Network
	ep           netsim.Endpoint
	tls          *tls.Config
	down         *atomic.Bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Dial implements raft.StreamLayer; the TLS handshake is done within timeout.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if s.down.Load() {
		return nil, errKilled
	}
	deadline := time.Now().Add(timeout)
	raw, err := s.nw.DialTimeout(s.ep, string(addr), timeout)
	if err != nil {
		return nil, err
	}
	cfg := s.tls.Clone()
	if host, _, err := net.SplitHostPort(string(addr)); err == nil {
		cfg.ServerName = host
	}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(deadline)
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// peerNode returns the HSM id of the caller of a cluster service RPC, from its verified TLS
// client certificate, or ErrNotNode.
func peerNode(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", ErrNotNode
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", ErrNotNode
	}
	if err := requireNode(ti.State); err != nil {
		return "", err
	}
	return ti.State.VerifiedChains[0][0].Subject.CommonName, nil
}

// certCommonName returns the common name of the first certificate in a PEM text.
func certCommonName(certPEM []byte) (string, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return "", errors.New("cluster: no certificate in PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", err
	}
	return c.Subject.CommonName, nil
}

// pipelinedTransport is raft's NetworkTransport with its open replication pipelines remembered,
// so that a stop Raft cannot finish can close them. In raft v1.7.3 a leader's Shutdown can
// deadlock while a follower's link holds its bytes (a partition that was never healed): the
// pipeline's sender waits for its response decoder, which waits for a consumer that shutdown has
// already stopped. Closing the pipelines releases both (seen in the scenario library).
type pipelinedTransport struct {
	*raft.NetworkTransport
	mu    sync.Mutex
	pipes map[*trackedPipeline]struct{}
}

type trackedPipeline struct {
	raft.AppendPipeline
	t *pipelinedTransport
}

func newPipelinedTransport(t *raft.NetworkTransport) *pipelinedTransport {
	return &pipelinedTransport{NetworkTransport: t, pipes: map[*trackedPipeline]struct{}{}}
}

// AppendEntriesPipeline opens a pipeline and remembers it until it is closed.
func (t *pipelinedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	tp := &trackedPipeline{AppendPipeline: p, t: t}
	t.mu.Lock()
	t.pipes[tp] = struct{}{}
	t.mu.Unlock()
	return tp, nil
}

func (p *trackedPipeline) Close() error {
	p.t.mu.Lock()
	delete(p.t.pipes, p)
	p.t.mu.Unlock()
	return p.AppendPipeline.Close()
}

// closePipelines closes every open pipeline (closing one twice is harmless in raft).
func (t *pipelinedTransport) closePipelines() {
	t.mu.Lock()
	pipes := make([]*trackedPipeline, 0, len(t.pipes))
	for p := range t.pipes {
		pipes = append(pipes, p)
	}
	t.mu.Unlock()
	for _, p := range pipes {
		_ = p.Close()
	}
}
