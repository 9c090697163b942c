package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The variables that name the client config file. EnvPKCS11Config wins for the PKCS#11 module,
// so one process can point the module and the CLI at different clusters.
const (
	EnvConfig       = "HSMSIM_CONFIG"
	EnvPKCS11Config = "HSMSIM_PKCS11_CONFIG"
)

// Profiles: how closely the PKCS#11 module follows the spec or the CloudHSM client library.
const (
	ProfileStandard = "standard"
	ProfileCloudHSM = "cloudhsm"
)

// Defaults of the optional fields.
const (
	DefaultAttemptTimeout = 3 * time.Second
	DefaultMaxBuffer      = 64 << 10
	// DefaultRefresh is how often a client made from a config file relearns the cluster's members.
	DefaultRefresh = 10 * time.Second
)

// FileConfig is the client config file, JSON, that `hsmsim up` and `hsmsim hsmd --write-config`
// write and that every client reads: the PKCS#11 module, the CLI, the KMS. Like CloudHSM's client
// configuration it says where the cluster is and how to trust it:
//
//	{
//	  "cluster_id": "cluster-abcdefghijk",   the cluster's id; the token's serial number, and
//	                                         its label when "label" is empty
//	  "label": "hsmsim",                     token label (CK_TOKEN_INFO.label, 32 bytes at most)
//	  "trust_anchor": "/path/customerCA.crt", PEM CA that issued the nodes' certificates; a relative
//	                                         path is relative to the config file's directory
//	  "client_cert": "client.crt",           PEM certificate and key of this client, for a cluster
//	  "client_key": "client.key",            that enforces mutual TLS (hsmsim cluster mtls); relative
//	                                         paths as trust_anchor's; both or neither
//	  "nodes": [                             at least one node; the client learns the rest of the
//	    {"id": "hsm-...", "az": "us-east-1a", "addr": "127.0.0.1:2225",   cluster from them (id and
//	     "socket": "run/hsm-....sock"}       az optional; addr is host:port of the node API, TLS;
//	  ],                                     socket, optional, the node's Unix socket on this host,
//	                                         used instead of addr when it is this user's alone
//	                                         (hsmd/client/local.go); relative as trust_anchor's
//	  "profile": "standard",                 PKCS#11 module: "standard" (default), the spec to the
//	                                         letter; "cloudhsm", the CloudHSM client's differences
//	  "log_file": "",                        PKCS#11 module log, appended to; empty: stderr
//	  "log_level": "warn",                   debug, info, warn (default: failovers and failures
//	                                         only, so a pkcs11-tool run prints nothing) or error
//	  "attempt_timeout": "3s",               one attempt of one call on one node (Go duration); a
//	                                         call fails over to other nodes, so its whole time is
//	                                         bounded by about attempt_timeout × (nodes + 2)
//	  "user": "crypto_user",                 PKCS#11 module: the crypto user a PIN without "user:"
//	                                         belongs to until the application names one, whose
//	                                         wrong-PIN count C_GetTokenInfo's flags show
//	  "max_buffer": 65536,                   bytes a PKCS#11 multi-part operation (C_*Update) may
//	                                         buffer before C_*Final (default 64 KiB)
//	  "batch": true                          PKCS#11 module: coalesce concurrent crypto calls of
//	                                         its sessions into batch requests (default true;
//	                                         false: one request per call, see batch.go)
//	}
type FileConfig struct {
	ClusterID   string `json:"cluster_id"`
	Label       string `json:"label,omitempty"`
	TrustAnchor string `json:"trust_anchor"`
	ClientCert  string `json:"client_cert,omitempty"`
	ClientKey   string `json:"client_key,omitempty"`
	Nodes       []Node `json:"nodes"`
	Profile     string `json:"profile,omitempty"`
	LogFile     string `json:"log_file,omitempty"`
	LogLevel    string `json:"log_level,omitempty"`
	Attempt     string `json:"attempt_timeout,omitempty"`
	MaxBuffer   int    `json:"max_buffer,omitempty"`
	User        string `json:"user,omitempty"`
	Batch       *bool  `json:"batch,omitempty"`

	// Parsed by LoadConfig.
	Path           string        `json:"-"` // where it was read from, for messages
	AttemptTimeout time.Duration `json:"-"`
	Level          slog.Level    `json:"-"`
}

// DefaultConfigPath is where the config is looked for when no variable names it:
// $XDG_CONFIG_HOME/hsmsim/client.json, else ~/.config/hsmsim/client.json.
func DefaultConfigPath(getenv func(string) string) string {
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "hsmsim", "client.json")
	}
	return filepath.Join(getenv("HOME"), ".config", "hsmsim", "client.json")
}

// ConfigPath resolves the config file: the first of vars that getenv finds set, else the
// default path. getenv is os.Getenv for a Go program; the PKCS#11 module passes the C getenv,
// since a c-shared Go runtime only sees the environment as it was when it was loaded.
func ConfigPath(getenv func(string) string, vars ...string) string {
	for _, v := range vars {
		if p := getenv(v); p != "" {
			return p
		}
	}
	return DefaultConfigPath(getenv)
}

// LoadConfig reads and checks a config file; every problem names the file and the field.
func LoadConfig(path string) (*FileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client config: %w (run hsmsim up, or set %s)", err, EnvConfig)
	}
	var c FileConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	c.Path = path
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	return &c, nil
}

func (c *FileConfig) check() error {
	if len(c.Nodes) == 0 {
		return errors.New("nodes: at least one node is needed")
	}
	for i, n := range c.Nodes {
		if n.Addr == "" {
			return fmt.Errorf("nodes[%d]: addr is empty", i)
		}
	}
	if c.TrustAnchor == "" {
		return errors.New("trust_anchor: the cluster's CA certificate file is needed")
	}
	if (c.ClientCert == "") != (c.ClientKey == "") {
		return errors.New("client_cert and client_key: give both or neither")
	}
	paths := []*string{&c.TrustAnchor, &c.ClientCert, &c.ClientKey}
	for i := range c.Nodes {
		paths = append(paths, &c.Nodes[i].Socket)
	}
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) && c.Path != "" {
			*p = filepath.Join(filepath.Dir(c.Path), *p)
		}
	}
	switch c.Profile {
	case "":
		c.Profile = ProfileStandard
	case ProfileStandard, ProfileCloudHSM:
	default:
		return fmt.Errorf("profile %q: want %q or %q", c.Profile, ProfileStandard, ProfileCloudHSM)
	}
	c.AttemptTimeout = DefaultAttemptTimeout
	if c.Attempt != "" {
		d, err := time.ParseDuration(c.Attempt)
		if err != nil || d <= 0 {
			return fmt.Errorf("attempt_timeout %q: want a positive duration such as \"3s\"", c.Attempt)
		}
		c.AttemptTimeout = d
	}
	switch {
	case c.MaxBuffer == 0:
		c.MaxBuffer = DefaultMaxBuffer
	case c.MaxBuffer < 0:
		return fmt.Errorf("max_buffer %d: must not be negative", c.MaxBuffer)
	}
	lvl, err := ParseLogLevel(c.LogLevel)
	if err != nil {
		return fmt.Errorf("log_level: %w", err)
	}
	c.Level = lvl
	if len(c.Label) > 32 {
		return fmt.Errorf("label %q: at most 32 bytes (CK_TOKEN_INFO.label)", c.Label)
	}
	return nil
}

// Write saves the config, 0600.
func (c *FileConfig) Write(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// Batching reports whether the PKCS#11 module should coalesce its sessions' crypto calls
// ("batch", default true): to nodes it reaches over gRPC; calls on the local wire go alone either
// way (batch.go).
func (c *FileConfig) Batching() bool { return c.Batch == nil || *c.Batch }

// DialConfig connects to the cluster a config file describes; tune adjusts the client config
// before dialing (an Observe hook, a dialer).
func DialConfig(c *FileConfig, tune ...func(*Config)) (*Client, error) {
	ca, err := os.ReadFile(c.TrustAnchor)
	if err != nil {
		return nil, fmt.Errorf("client config %s: trust_anchor: %w", c.Path, err)
	}
	cfg := Config{Nodes: c.Nodes, CAPEM: ca, AttemptTimeout: c.AttemptTimeout, Refresh: DefaultRefresh}
	if c.ClientCert != "" {
		if cfg.CertPEM, err = os.ReadFile(c.ClientCert); err != nil {
			return nil, fmt.Errorf("client config %s: client_cert: %w", c.Path, err)
		}
		if cfg.KeyPEM, err = os.ReadFile(c.ClientKey); err != nil {
			return nil, fmt.Errorf("client config %s: client_key: %w", c.Path, err)
		}
	}
	for _, f := range tune {
		f(&cfg)
	}
	return Dial(cfg)
}

// ParseLogLevel reads a log level as the config file and HSMSIM_PKCS11_LOG_LEVEL give it. The
// empty string is the default, warn: a PKCS#11 module is a library inside someone else's
// program, and vendor modules say nothing on stderr unless something goes wrong.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "warn", "warning":
		return slog.LevelWarn, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
}
