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

// The KMS over the in-process cluster: kms.Server with the CloudHSM service as its control
// plane and this target as its cluster directory (so the KMS's client endpoint is named "kms"
// and faults can cut it), served on a loopback port.

func (t *InProcess) startKMS(region string) error {
	dir := filepath.Join(t.dir, "kms")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	t.faults = fault.New(fault.Config{Seed: uint64(t.opts.Seed)})
	intercept, q := quota.Front(t.opts.Capacity, t.faults)
	s, err := kms.Open(kms.Config{DataDir: dir, Region: region, Clusters: t, ControlPlane: t.Svc, NoSync: true, SweepEvery: time.Hour,
		AccountID: KMSAccount, Logger: t.opts.Logger.With("face", "kms"), Faults: intercept})
	if err != nil {
		return err
	}
	t.faults.UseKeyStores(s)
	if q != nil {
		q.UseKeys(s)
	}
	t.kms = s
	t.kmsSrv = httptest.NewServer(s)
	t.addClient("kms")
	return nil
}

func (t *InProcess) closeKMS() {
	if t.faults != nil {
		t.faults.Clear()
	}
	if t.kmsSrv != nil {
		t.kmsSrv.Close()
	}
	if t.kms != nil {
		_ = t.kms.Close()
	}
}

// APIFaults are the rules at the AWS API the KMS's endpoint consults (api-fault); nil when the
// scenario has no KMS.
func (t *InProcess) APIFaults() *fault.Set { return t.faults }

// KMS is the KMS server (an http.Handler); nil when the scenario has none.
func (t *InProcess) KMS() *kms.Server { return t.kms }

// KMSURL is the KMS's loopback endpoint.
func (t *InProcess) KMSURL() string {
	if t.kmsSrv == nil {
		return ""
	}
	return t.kmsSrv.URL
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
	return t.Svc.DialClusterAs(c.ID, "kms")
}

var _ kms.ClusterDirectory = (*InProcess)(nil)

// KMSClient is the AWS SDK's KMS client pointed at the environment's KMS: over loopback HTTP,
// or (inproc) straight into the handler with no socket. The SDK does not retry, so a scenario
// sees every error a call met.
func (t *InProcess) KMSClient(inproc bool, timeout time.Duration) *awskms.Client {
	var hc awskms.HTTPClient = &http.Client{Timeout: timeout}
	url := t.KMSURL()
	if inproc {
		hc, url = handlerClient{t.kms}, "http://kms.inproc"
	}
	return awskms.New(awskms.Options{
		Region:           t.req.Region, // the region of the scenario's AZs
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIAHSMSIMSCENARIO01", "hsmsim/scenario/secret/key/00000000000000", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       hc,
	})
}

// handlerClient serves SDK requests with the handler itself.
type handlerClient struct{ h http.Handler }

func (c handlerClient) Do(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
