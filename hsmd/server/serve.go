package server

import (
	"crypto/tls"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Serve runs the node's API with TLS on lis until the returned server is stopped. tlsCfg comes
// from pki.ServerTLS: the node's certificate, issued by the cluster's trust anchor; the cluster's
// client trust anchors and mutual-TLS enforcement are added to it (mtls.go). A node alone has no
// peers on this port.
func (n *Node) Serve(lis net.Listener, tlsCfg *tls.Config, extra ...grpc.ServerOption) *grpc.Server {
	opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(n.ServerTLS(tlsCfg, nil)))}, n.ServerOptions()...)
	s := grpc.NewServer(append(opts, extra...)...)
	n.Register(s)
	go func() { _ = s.Serve(lis) }()
	return s
}
