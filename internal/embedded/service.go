package embedded

import (
	"log/slog"
	"path/filepath"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// ServiceOptions shape the service alone (hsmsim kms).
type ServiceOptions struct {
	DataDir           string
	Region, AccountID string
	// BasePort gives HSMs fixed ports from here; 0: any free port.
	BasePort int
	// Listen is the address of the KMS and CloudHSM endpoint.
	Listen string
	// Credentials are the access keys the endpoint knows; Strict verifies every signature.
	Credentials []awsapi.Credential
	Strict      bool
	Logger      *slog.Logger
	// Capacity is the capacity profile, as Options.Capacity.
	Capacity string
}

// Serve runs the CloudHSM service and the KMS over it with no cluster made in advance
// (hsmsim kms): clusters are made through the CloudHSM API, as on AWS. Its data directory is
// laid out as Up's (cloudhsm/, kms/) without the state file; the returned Cluster has no
// cluster of its own (State holds the region, account and endpoint only).
func Serve(o ServiceOptions) (*Cluster, error) {
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	obs := newObservability()
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: filepath.Join(abs, serviceDir), Region: o.Region,
		AccountID: o.AccountID, BasePort: o.BasePort, Logger: o.Logger, Capacity: o.Capacity, NodeObserver: obs.nodes.For})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Service: svc, Net: svc.Network(), Dir: abs, State: State{Region: o.Region, AccountID: o.AccountID}, log: o.Logger,
		Metrics: obs.reg}
	if err := c.startKMS(o.Credentials, o.Strict, o.Listen, false, o.Capacity); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
