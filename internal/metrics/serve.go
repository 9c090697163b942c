package metrics

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
)

// ServeMember is `hsmsim hsmd --metrics-listen`: one HSM's node API calls and state, served at
// /metrics on addr. It returns the address it listens on and what stops it.
func ServeMember(addr string, m *cluster.Member) (string, func(), error) {
	reg := NewRegistry()
	m.Node().SetObserver(NewNodes(reg).For(m.ID()))
	reg.MustRegister(&Cluster{Members: func() []*cluster.Member { return []*cluster.Member{m} }})
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", Handler(reg))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), func() {
		m.Node().SetObserver(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
