package embedded

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/internal/console"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// The live web console (internal/console) on the endpoint's port: the cluster as the fault
// API's target sees it, the key stores as DescribeCustomKeyStores answers, and the endpoint's
// last requests.

// ReportsDir is where the console looks for scenario reports in the data directory.
const ReportsDir = "reports"

// requestLogSize is how many requests the console's request log keeps.
const requestLogSize = 200

// newConsole is the console of the stack; t is nil without a cluster of its own.
func (c *Cluster) newConsole(t *target.InProcess) *console.Handler {
	c.Requests = console.NewRequestLog(requestLogSize)
	h := &console.Handler{Requests: c.Requests, Reports: filepath.Join(c.Dir, ReportsDir), Faults: faultctl.Path,
		KeyStores: keyStoreView{kms: c.KMS, st: c.State}}
	if t != nil {
		h.Cluster = clusterView{c: c, t: t}
	}
	return h
}

// clusterView is the cluster as the console draws it: labels, states and leadership as the
// fault API's target (the scenario engine's view) has them, so the labels are the ones its
// controls name.
type clusterView struct {
	c *Cluster
	t *target.InProcess
}

func (v clusterView) ID() string { return v.c.State.ClusterID }

func (v clusterView) HSMs() []console.HSM {
	var out []console.HSM
	for _, n := range v.t.Nodes() {
		if n.Removed || n.Cluster != "" {
			continue // removed HSMs and clusters restored by a scenario are not this cluster's
		}
		h := console.HSM{ID: n.ID, Label: n.Label, AZ: n.AZ, State: n.State, Leader: n.Leader}
		if !n.Up {
			h.State = "DOWN"
		}
		h.AppliedIndex, _ = v.t.Applied(n.Label)
		if m := v.c.Service.Member(v.c.State.ClusterID, n.ID); m != nil && m.Raft() != nil {
			h.Term = m.Raft().CurrentTerm()
		}
		out = append(out, h)
	}
	return out
}

// keyStoreView asks the KMS for its custom key stores as an AWS client would, as the
// account's administrator, through the handler itself: no socket, and neither the live faults
// nor the request log see the console's own calls.
type keyStoreView struct {
	kms http.Handler
	st  State
}

func (v keyStoreView) KeyStores(ctx context.Context) ([]console.KeyStore, error) {
	cl := awskms.New(awskms.Options{Region: v.st.Region, BaseEndpoint: aws.String("http://console.internal"),
		Credentials: credentials.NewStaticCredentialsProvider(v.st.AccessKeyID, v.st.SecretKey, ""),
		HTTPClient:  &http.Client{Transport: handlerTransport{v.kms}}, RetryMaxAttempts: 1})
	var out []console.KeyStore
	p := awskms.NewDescribeCustomKeyStoresPaginator(cl, &awskms.DescribeCustomKeyStoresInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range page.CustomKeyStores {
			out = append(out, console.KeyStore{ID: aws.ToString(s.CustomKeyStoreId), Name: aws.ToString(s.CustomKeyStoreName),
				ClusterID: aws.ToString(s.CloudHsmClusterId), ConnectionState: string(s.ConnectionState),
				ConnectionErrorCode: string(s.ConnectionErrorCode)})
		}
	}
	return out, nil
}

// handlerTransport answers HTTP requests with a handler in this process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	t.h.ServeHTTP(w, r)
	res := w.Result()
	res.Request = r
	return res, nil
}
