package embedded

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/internal/metrics"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// Live faults: the KMS endpoint's port also serves internal/faultctl's API (faultctl.Path),
// with the rules at the AWS API the endpoint consults (Cluster.Faults) and, when this process
// runs a cluster of its own, faults on its HSMs (the scenario engine's, through target.Attach).

// kmsEndpoint is the netsim name of the KMS's connections to the HSMs, so HSM faults that cut
// clients off (pause, cut-clients, az-outage) cut the KMS off too, as in a scenario.
const kmsEndpoint = "kms"

// kmsDirectory is the service as the KMS's cluster directory, its clients named kmsEndpoint.
type kmsDirectory struct{ *cloudhsm.Service }

func (d kmsDirectory) Dial(_ context.Context, c *cloudhsm.Cluster) (*client.Client, error) {
	return d.DialClusterAs(c.ID, kmsEndpoint)
}

// newFaults makes the rules the KMS endpoint will consult.
func (c *Cluster) newFaults() *fault.Set {
	c.Faults = fault.New(fault.Config{Seed: 1})
	return c.Faults
}

// serveKMS serves the KMS and the fault API on listen and returns the base URL.
func (c *Cluster) serveKMS(listen string) (string, error) {
	c.Faults.UseKeyStores(c.KMS)
	ctl := &faultctl.Handler{API: c.Faults, Others: map[string]http.Handler{metrics.Path: metrics.Handler(c.Metrics)}}
	var t *target.InProcess
	if c.State.ClusterID != "" {
		var err error
		t, err = target.Attach(context.Background(), c.Service, c.State.AccountID, c.State.Region, c.State.ClusterID,
			kmsEndpoint, netsim.External.Name)
		if err != nil {
			return "", err
		}
		c.HSMFaults = faultctl.NewHSM(t)
		ctl.HSM = c.HSMFaults
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return "", err
	}
	con := c.newConsole(t)
	c.httpSrv = &http.Server{Handler: con.Mount(ctl.Mount(c.KMS)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = c.httpSrv.Serve(lis) }()
	return "http://" + c.advertised(lis.Addr()), nil
}

// stopServing stops the endpoint (5 s for requests under way) and forgets the live faults.
func (c *Cluster) stopServing() {
	if c.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.httpSrv.Shutdown(ctx)
		cancel()
	}
	if c.HSMFaults != nil {
		c.HSMFaults.Stop()
	}
	if c.Faults != nil {
		c.Faults.Clear()
	}
}

// advertised is the address clients reach a listener at: an unspecified host (0.0.0.0, ::)
// becomes Options.Host.
func (c *Cluster) advertised(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = c.host
	}
	return net.JoinHostPort(host, port)
}
