package target

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
	"github.com/hsmsim/hsmsim/kms/quota"
)

// The KMS over the scenario's cluster: kms.Server with the target as its cluster directory (so
// the KMS's client endpoint is named "kms" and faults can cut it), served on a loopback port.
// Both targets run it the same way (kmsFace); they differ in the directory (InProcess: the
// CloudHSM service's clusters; Processes: its hsmd processes) and the control plane (InProcess
// serves the CloudHSM service's; Processes has none, so BaldrApiService.* is NotImplemented).

// kmsEndpoint is the netsim name of the KMS's connections to the HSMs, so HSM faults that cut
// clients off (pause, cut-clients, az-outage) cut the KMS off too.
const kmsEndpoint = "kms"

// kmsFace is the KMS of a target: the server, its loopback endpoint and the rules at its API.
type kmsFace struct {
	kms    *kms.Server
	kmsSrv *httptest.Server
	faults *fault.Set // the rules at the AWS API the KMS consults
	region string
}

// startKMS opens the KMS in dir/kms over clusters (and cp, when not nil) and serves it.
func (f *kmsFace) startKMS(b *base, region string, clusters kms.ClusterDirectory, cp cloudhsm.ControlPlane) error {
	dir := filepath.Join(b.dir, "kms")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f.region = region
	f.faults = fault.New(fault.Config{Seed: uint64(b.opts.Seed)})
	intercept, q := quota.Front(b.opts.Capacity, f.faults)
	s, err := kms.Open(kms.Config{DataDir: dir, Region: region, Clusters: clusters, ControlPlane: cp, NoSync: true, SweepEvery: time.Hour,
		AccountID: KMSAccount, Logger: b.opts.Logger.With("face", "kms"), Faults: intercept})
	if err != nil {
		return err
	}
	f.faults.UseKeyStores(s)
	if q != nil {
		q.UseKeys(s)
	}
	f.kms = s
	f.kmsSrv = httptest.NewServer(s)
	b.addClient(kmsEndpoint)
	return nil
}

func (f *kmsFace) closeKMS() {
	if f.faults != nil {
		f.faults.Clear()
	}
	if f.kmsSrv != nil {
		f.kmsSrv.Close()
	}
	if f.kms != nil {
		_ = f.kms.Close()
	}
}

// APIFaults are the rules at the AWS API the KMS's endpoint consults (api-fault); nil when the
// scenario has no KMS.
func (f *kmsFace) APIFaults() *fault.Set { return f.faults }

// KMS is the KMS server (an http.Handler); nil when the scenario has none.
func (f *kmsFace) KMS() *kms.Server { return f.kms }

// KMSURL is the KMS's loopback endpoint.
func (f *kmsFace) KMSURL() string {
	if f.kmsSrv == nil {
		return ""
	}
	return f.kmsSrv.URL
}

// KMSClient is the AWS SDK's KMS client pointed at the environment's KMS: over loopback HTTP,
// or (inproc) straight into the handler with no socket. The SDK does not retry, so a scenario
// sees every error a call met.
func (f *kmsFace) KMSClient(inproc bool, timeout time.Duration) *awskms.Client {
	var hc awskms.HTTPClient = &http.Client{Timeout: timeout}
	url := f.KMSURL()
	if inproc {
		hc, url = handlerClient{f.kms}, "http://kms.inproc"
	}
	return awskms.New(awskms.Options{
		Region:           f.region, // the region of the scenario's AZs
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAHSMSIMSCENARIO01", "hsmsim/scenario/secret/key/00000000000000", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       hc,
	})
}

// TrustAnchorPEM is the scenario cluster's customer CA certificate (a key store's
// TrustAnchorCertificate).
func (t *InProcess) TrustAnchorPEM() []byte { return t.anchor }

// Cluster implements kms.ClusterDirectory: the service's clusters.
func (t *InProcess) Cluster(ctx context.Context, account, region, id string) (*cloudhsm.Cluster, error) {
	return t.Svc.Cluster(ctx, account, region, id)
}

// Dial implements kms.ClusterDirectory: the service's client of the cluster's HSMs, through the
// netsim endpoint "kms".
func (t *InProcess) Dial(_ context.Context, c *cloudhsm.Cluster) (*client.Client, error) {
	return t.Svc.DialClusterAs(c.ID, kmsEndpoint)
}

var _ kms.ClusterDirectory = (*InProcess)(nil)

// handlerClient serves SDK requests with the handler itself.
type handlerClient struct{ h http.Handler }

func (c handlerClient) Do(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
