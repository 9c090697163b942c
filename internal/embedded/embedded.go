// Package embedded is the embedded default of hsmsim: one process running the CloudHSM service
// (kms/cloudhsm) with one initialized cluster (3 HSMs in 3 AZs unless told otherwise), an
// activated admin, a crypto user and kmsuser, and the KMS and CloudHSM endpoint on loopback;
// its state in one data directory that survives restarts, and the client config every face
// reads. It is what `hsmsim up` (and `make run`) start, and what scenarios build on.
//
// The first run provisions the cluster as an operator would, through the service's real APIs:
// CreateCluster, CreateHsm per HSM, the cluster's CSR signed by a customer CA this package makes
// (DATA/customerCA.crt and .key), InitializeCluster, then through the HSM client the admin's
// activation and the users. Later runs open the same service and KMS again.
package embedded

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// Options shape a new embedded cluster; a data directory that already holds one keeps its shape.
type Options struct {
	DataDir  string
	HSMs     int      // default 3
	AZs      []string // default us-east-1a, us-east-1b, us-east-1c; HSM i goes to AZ i mod len
	Host     string   // default 127.0.0.1
	BasePort int      // node API ports BasePort, BasePort+1, ...; Raft ports BasePort+100+i. Default 2225.
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
	CustomerCAFile = "customerCA.crt" // the trust anchor given at InitializeCluster
	customerCAKey  = "customerCA.key"
	serviceDir     = "cloudhsm"
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
	log     *slog.Logger
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
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: filepath.Join(abs, serviceDir), Region: st.Region, AccountID: st.AccountID,
		Host: o.Host, BasePort: o.BasePort, Logger: o.Logger, NoSync: o.NoSync, KDF: o.KDF, Timeouts: o.Timeouts})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Service: svc, Net: svc.Network(), Dir: abs, State: *st, log: o.Logger}
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
		c.KMS, err = kms.Open(kms.Config{DataDir: filepath.Join(abs, kmsDir), Region: c.State.Region, AccountID: c.State.AccountID,
			Credentials: []awsapi.Credential{{AccessKeyID: c.State.AccessKeyID, SecretAccessKey: c.State.SecretKey}},
			Strict:      o.Strict, Clusters: svc, ControlPlane: svc, Logger: o.Logger, NoSync: o.NoSync})
		if err != nil {
			return nil, err
		}
		if c.State.KMSURL, err = c.KMS.Start(o.KMSListen); err != nil {
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
// would, and saves the state file last (a directory without it is provisioned afresh).
func (c *Cluster) provision(ctx context.Context, o Options) error {
	svc := c.Service
	r := &awsapi.Caller{Account: c.State.AccountID, Region: c.State.Region}
	var subnets []string
	for _, az := range o.AZs {
		if id := cloudhsm.SubnetID(az); !slices.Contains(subnets, id) {
			subnets = append(subnets, id)
		}
	}
	cc, err := svc.CreateCluster(ctx, r, &cloudhsm.CreateClusterInput{HsmType: "hsm2m.medium", SubnetIds: subnets,
		TagList: []cloudhsm.HsmTag{{Key: "hsmsim", Value: "embedded"}}})
	if err != nil {
		return err
	}
	id := cc.Cluster.ClusterId
	c.State.ClusterID = id
	for i := 0; i < o.HSMs; i++ {
		if _, err := svc.CreateHsm(ctx, r, &cloudhsm.CreateHsmInput{ClusterId: id, AvailabilityZone: o.AZs[i%len(o.AZs)]}); err != nil {
			return err
		}
	}
	d, err := svc.DescribeClusters(ctx, r, &cloudhsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	if err != nil {
		return err
	}
	caPEM, signed, err := c.signCSR(d.Clusters[0].Certificates.ClusterCsr)
	if err != nil {
		return err
	}
	if _, err := svc.InitializeCluster(ctx, r, &cloudhsm.InitializeClusterInput{ClusterId: id, SignedCert: signed, TrustAnchor: caPEM}); err != nil {
		return err
	}
	cl, err := svc.DialCluster(id)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	if err := cl.ChangePassword(ctx, "", c.State.AdminPassword); err != nil {
		return fmt.Errorf("activating the admin: %w", err)
	}
	for _, u := range [][2]string{{c.State.CryptoUser, c.State.CryptoPass}, {"kmsuser", c.State.KMSUserPass}} {
		if err := cl.CreateUser(ctx, u[0], hsmpb.Role_ROLE_CRYPTO_USER, u[1]); err != nil {
			return fmt.Errorf("creating the crypto user %s: %w", u[0], err)
		}
	}
	if err := cl.Logout(ctx); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := svc.WaitActive(wctx, id, 1); err != nil {
		return err
	}
	return nil
}

// signCSR makes the customer CA (DATA/customerCA.crt and .key) and signs the cluster's CSR with
// it, as the AWS guide does with openssl.
func (c *Cluster) signCSR(csrPEM string) (caPEM, signed string, err error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return "", "", errors.New("the cluster has no CSR")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "hsmsim embedded customer CA", Organization: []string{"hsmsim"}},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", err
	}
	caCert, _ := x509.ParseCertificate(der)
	leaf, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial(), Subject: csr.Subject,
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(10 * 365 * 24 * time.Hour)}, caCert, csr.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err := os.WriteFile(filepath.Join(c.Dir, CustomerCAFile), []byte(caPEM), 0o644); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, customerCAKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	return caPEM, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf})), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
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

// Close stops the KMS endpoint and every HSM.
func (c *Cluster) Close() {
	if c.KMS != nil {
		_ = c.KMS.Close()
		c.KMS = nil
	}
	if c.Service != nil {
		_ = c.Service.Close()
	}
}
