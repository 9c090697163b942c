// Package embedded is the embedded default of hsmsim: one process running the CloudHSM service
// (kms/cloudhsm) with one initialized cluster (3 HSMs in 3 AZs unless told otherwise), an
// activated admin, a crypto user and kmsuser, and the KMS and CloudHSM endpoint on loopback;
// its state in one data directory that survives restarts, and the client config every face
// reads (Env lists what `hsmsim env` exports). It is what `hsmsim up` (and `make run`) start;
// Serve is `hsmsim kms`, the same service and KMS with no cluster made in advance.
//
// The first run provisions the cluster as an operator would, with cloudhsm.Service.Provision:
// CreateCluster, CreateHsm per HSM, the cluster's CSR signed by a new customer CA (kept as
// DATA/customerCA.crt and .key), InitializeCluster, then through the HSM client the admin's
// activation and the users. Later runs open the same service and KMS again.
//
// The endpoint's port also serves the live fault API (faults.go, package internal/faultctl):
// rules at the AWS API the endpoint consults, and faults on the cluster's HSMs.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
	"github.com/hsmsim/hsmsim/kms/quota"
	"github.com/hsmsim/hsmsim/kms/trail"
)

// Options shape a new embedded cluster; a data directory that already holds one keeps its shape.
type Options struct {
	DataDir string
	HSMs    int      // default 3
	AZs     []string // default us-east-1a, us-east-1b, us-east-1c; HSM i goes to AZ i mod len
	// Host is the address clients and HSMs reach the HSMs (and an unspecified KMS listen
	// address) at: default 127.0.0.1. Bind, when set, is where they listen instead: 0.0.0.0 in a
	// container, whose published ports reach only what listens on its own interfaces, while Host
	// stays the name the client config gives (127.0.0.1 with the ports published on the host,
	// or the container's name for other containers).
	Host     string
	Bind     string
	BasePort int // node API ports BasePort, BasePort+1, ...; Raft ports cluster.RaftPort of each. Default 2225.
	Logger   *slog.Logger
	NoSync   bool // tests only
	KDF      token.KDFParams
	Timeouts cluster.Timeouts

	// KMSListen is the address of the KMS and CloudHSM endpoint (default 127.0.0.1:4566);
	// NoKMS runs the cluster alone.
	KMSListen string
	NoKMS     bool
	// Strict makes the endpoint verify every request's SigV4 signature against the local
	// access key pair (State.AccessKeyID, State.SecretAccessKey).
	Strict bool
	// Capacity is the capacity profile (hsmd/capacity): "cloudhsm" holds every HSM to the
	// published rates of its type and the KMS to AWS's request quotas (kms/quota); empty: no
	// limits. It is chosen at every start, not kept in the data directory.
	Capacity string
	// HsmType is the new cluster's HSM type (first run; default hsm2m.medium).
	HsmType string
}

// State is what the data directory remembers (embedded.json, 0600: it holds the demo users'
// passwords and the local access key so `hsmsim env` can print them; this is an emulator for
// local use).
type State struct {
	ClusterID     string `json:"cluster_id"`
	AdminPassword string `json:"admin_password"`
	CryptoUser    string `json:"crypto_user"`
	CryptoPass    string `json:"crypto_user_password"`
	KMSUserPass   string `json:"kmsuser_password"`
	Nodes         []Node `json:"nodes"`
	Region        string `json:"region"`
	AccountID     string `json:"account_id"`
	AccessKeyID   string `json:"access_key_id"`
	SecretKey     string `json:"secret_access_key"`
	// KMSURL is the endpoint of the running `hsmsim up` (AWS_ENDPOINT_URL_KMS and
	// AWS_ENDPOINT_URL_CLOUDHSM_V2), written at every start.
	KMSURL string `json:"kms_url,omitempty"`
}

// Node is one HSM of the embedded cluster.
type Node struct {
	ID      string `json:"id"`
	AZ      string `json:"az"`
	APIAddr string `json:"api_addr"`
}

// Default demo credentials, printed by `hsmsim up` and `hsmsim env`.
const (
	DefaultAdminPassword = "adminpass1"
	DefaultCryptoUser    = "crypto_user"
	DefaultCryptoPass    = "cryptopass1"
	DefaultKMSUserPass   = "kmsPassword1"
	DefaultKMSListen     = "127.0.0.1:4566"
)

// Files in the data directory.
const (
	StateFile      = "embedded.json"
	ConfigFile     = "client.json"
	CustomerCAFile = cluster.CustomerCAFile // the trust anchor given at InitializeCluster
	customerCAKey  = cluster.CustomerCAKeyFile
	serviceDir     = "cloudhsm"
	socketDir      = "run" // the HSMs' Unix sockets, <hsm id>.sock (cloudhsm.Config.SocketDir)
	kmsDir         = "kms"
)

// Cluster is a running embedded default: the service, its cluster, and the KMS.
type Cluster struct {
	Service *cloudhsm.Service
	KMS     *kms.Server // nil with NoKMS
	// Net carries every connection between the HSMs (and is where scenarios put faults).
	Net     *netsim.Network
	Dir     string
	State   State
	Members []*cluster.Member
	// Faults are the rules at the AWS API the KMS endpoint consults, and HSMFaults the live
	// faults on the cluster's HSMs (nil without a cluster of its own); both are served on the
	// endpoint's port under faultctl.Path (faults.go).
	Faults    *fault.Set
	HSMFaults *faultctl.HSM
	// Quotas are AWS KMS's request quotas the endpoint enforces (the capacity profile); nil
	// without it.
	Quotas *quota.Quotas
	// Metrics is the stack's Prometheus registry, served at metrics.Path on the endpoint's port,
	// and Trail the KMS's audit trail (nil with NoKMS) (observe.go).
	Metrics *prometheus.Registry
	Trail   *trail.Trail
	httpSrv *http.Server
	log     *slog.Logger
	host    string // Options.Host
}

// ConfigPath is the client config file of the cluster.
func (c *Cluster) ConfigPath() string { return filepath.Join(c.Dir, ConfigFile) }

// TrustAnchorPath is the CA clients verify the HSMs' TLS certificates with (the client
// config's trust_anchor): the cluster's HSM CA (see kms/cloudhsm).
func (c *Cluster) TrustAnchorPath() string {
	return filepath.Join(c.Dir, serviceDir, "clusters", c.State.ClusterID, "hsm-ca.crt")
}

// CustomerCAPath is the customer CA the cluster was initialized with: the
// TrustAnchorCertificate of a KMS custom key store on it.
func (c *Cluster) CustomerCAPath() string { return filepath.Join(c.Dir, CustomerCAFile) }

// TrustAnchorPath of a data directory (for `hsmsim env`).
func TrustAnchorPath(dir string, st *State) string {
	return filepath.Join(dir, serviceDir, "clusters", st.ClusterID, "hsm-ca.crt")
}

// LoadState reads the state file of a data directory (for `hsmsim env`).
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", StateFile, err)
	}
	if s.Region == "" {
		return nil, fmt.Errorf("%s: written by an older hsmsim; start with a new --data-dir", StateFile)
	}
	return &s, nil
}

func (o *Options) defaults() {
	if o.HSMs == 0 {
		o.HSMs = 3
	}
	if len(o.AZs) == 0 {
		o.AZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.BasePort == 0 {
		o.BasePort = 2225
	}
	if o.KMSListen == "" {
		o.KMSListen = DefaultKMSListen
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Up starts the embedded default in o.DataDir: a new cluster when the directory holds none
// (provisioned through the CloudHSM APIs), or the one it holds; then the KMS endpoint.
func Up(ctx context.Context, o Options) (*Cluster, error) {
	o.defaults()
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if o.HSMs < 1 || o.HSMs > cloudhsm.MaxHSMs {
		return nil, fmt.Errorf("embedded: %d HSMs: a cluster has 1 to %d", o.HSMs, cloudhsm.MaxHSMs)
	}
	region := o.AZs[0][:len(o.AZs[0])-1]
	for _, az := range o.AZs {
		if len(az) < 2 || az[:len(az)-1] != region {
			return nil, fmt.Errorf("embedded: AZ %q is not in region %s (AZs are a region and a letter: us-east-1a)", az, region)
		}
	}
	st, err := LoadState(abs)
	fresh := errors.Is(err, os.ErrNotExist)
	if err != nil && !fresh {
		return nil, err
	}
	if fresh {
		// A directory without a state file never finished provisioning: start it over.
		for _, d := range []string{serviceDir, kmsDir} {
			if err := os.RemoveAll(filepath.Join(abs, d)); err != nil {
				return nil, err
			}
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, err
		}
		st = &State{AdminPassword: DefaultAdminPassword, CryptoUser: DefaultCryptoUser, CryptoPass: DefaultCryptoPass,
			KMSUserPass: DefaultKMSUserPass, Region: region, AccountID: awsapi.DefaultAccountID,
			AccessKeyID: "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
			SecretKey:   randomString(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+")}
	}
	obs := newObservability()
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: filepath.Join(abs, serviceDir), Region: st.Region, AccountID: st.AccountID,
		Host: o.Host, Bind: o.Bind, BasePort: o.BasePort, Logger: o.Logger, NoSync: o.NoSync, KDF: o.KDF, Timeouts: o.Timeouts, Capacity: o.Capacity,
		NodeObserver: obs.nodes.For, SocketDir: filepath.Join(abs, socketDir)})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Service: svc, Net: svc.Network(), Dir: abs, State: *st, log: o.Logger, host: o.Host, Metrics: obs.reg}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if fresh {
		if err := c.provision(ctx, o); err != nil {
			return nil, fmt.Errorf("embedded: provisioning the cluster: %w", err)
		}
	}
	c.Members = svc.Members(c.State.ClusterID)
	if err := c.WaitReady(ctx); err != nil {
		return nil, err
	}
	c.State.Nodes = nil
	for _, m := range c.Members {
		c.State.Nodes = append(c.State.Nodes, Node{ID: m.ID(), AZ: m.AZ(), APIAddr: m.APIAddr()})
	}
	if err := c.writeClientConfig(); err != nil {
		return nil, err
	}
	c.State.KMSURL = ""
	if !o.NoKMS {
		creds := []awsapi.Credential{{AccessKeyID: c.State.AccessKeyID, SecretAccessKey: c.State.SecretKey}}
		if err := c.startKMS(creds, o.Strict, o.KMSListen, o.NoSync, o.Capacity); err != nil {
			return nil, fmt.Errorf("embedded: KMS endpoint on %s (choose another with --kms-listen): %w", o.KMSListen, err)
		}
	}
	if err := c.saveState(); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// provision makes the cluster through the CloudHSM APIs and the HSM client, as an operator
// would, and keeps the customer CA; the state file is saved last (a directory without it is
// provisioned afresh).
func (c *Cluster) provision(ctx context.Context, o Options) error {
	hsms := make([]string, o.HSMs)
	for i := range hsms {
		hsms[i] = o.AZs[i%len(o.AZs)]
	}
	p, err := c.Service.Provision(ctx, cloudhsm.ProvisionOptions{Account: c.State.AccountID, Region: c.State.Region, AZs: o.AZs, HSMs: hsms,
		Tag: "embedded", HsmType: o.HsmType, AdminPassword: c.State.AdminPassword,
		CryptoUsers: []cloudhsm.User{{Name: c.State.CryptoUser, Password: c.State.CryptoPass}, {Name: "kmsuser", Password: c.State.KMSUserPass}}})
	c.State.ClusterID = p.ClusterID
	if err != nil {
		return err
	}
	keyPEM, err := p.CustomerCA.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, CustomerCAFile), p.CustomerCA.CertPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, customerCAKey), keyPEM, 0o600)
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for _, x := range b {
		sb.WriteByte(alphabet[int(x)%len(alphabet)])
	}
	return sb.String()
}

// startKMS opens the KMS in DATA/kms over the service and serves it on listen, behind the
// quotas of the capacity profile and the live faults (quota.Front).
func (c *Cluster) startKMS(creds []awsapi.Credential, strict bool, listen string, noSync bool, profile string) error {
	var err error
	var intercept awsapi.Interceptor
	intercept, c.Quotas = quota.Front(profile, c.newFaults())
	observer, err := c.observeKMS()
	if err != nil {
		return err
	}
	c.KMS, err = kms.Open(kms.Config{DataDir: filepath.Join(c.Dir, kmsDir), Region: c.State.Region, AccountID: c.State.AccountID,
		Credentials: creds, Strict: strict, Clusters: kmsDirectory{c.Service}, ControlPlane: c.Service, Logger: c.log, NoSync: noSync,
		Faults: intercept, Observer: observer})
	if err != nil {
		return err
	}
	c.registerStack()
	if c.Quotas != nil {
		c.Quotas.UseKeys(c.KMS)
	}
	c.State.KMSURL, err = c.serveKMS(listen)
	return err
}

func (c *Cluster) saveState() error {
	b, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, StateFile), append(b, '\n'), 0o600)
}

// writeClientConfig writes DATA/client.json (the service also keeps one beside the cluster).
func (c *Cluster) writeClientConfig() error {
	cfg, err := c.Service.ClientConfig(c.State.ClusterID)
	if err != nil {
		return err
	}
	// The demo crypto user is the token's normal user: a PKCS#11 PIN that is a password alone
	// is its, and C_GetTokenInfo shows its wrong-PIN count.
	cfg.User = c.State.CryptoUser
	// Relative to the config, so the config works wherever the data directory is seen from
	// (a container's volume mounted on the host).
	if rel, err := filepath.Rel(c.Dir, cfg.TrustAnchor); err == nil {
		cfg.TrustAnchor = rel
	}
	for i, n := range cfg.Nodes {
		if rel, err := filepath.Rel(c.Dir, n.Socket); err == nil && n.Socket != "" {
			cfg.Nodes[i].Socket = rel
		}
	}
	return cfg.Write(c.ConfigPath())
}

// Client dials the cluster through the service's network.
func (c *Cluster) Client() (*client.Client, error) {
	return c.Service.DialCluster(c.State.ClusterID)
}

// WaitReady waits until the cluster has a leader.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		for _, m := range c.Service.Members(c.State.ClusterID) {
			if m.IsLeader() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the KMS endpoint (and the live faults) and every HSM.
func (c *Cluster) Close() {
	c.stopServing()
	if c.KMS != nil {
		_ = c.KMS.Close()
		c.KMS = nil
	}
	if c.Trail != nil {
		_ = c.Trail.Close()
		c.Trail = nil
	}
	if c.Service != nil {
		_ = c.Service.Close()
	}
}
