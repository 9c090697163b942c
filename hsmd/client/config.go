package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// EnvConfig names the client config file; EnvPKCS11Config takes precedence for the PKCS#11
// module, so one process can point the module and the CLI at different clusters.
const (
	EnvConfig       = "HSMSIM_CONFIG"
	EnvPKCS11Config = "HSMSIM_PKCS11_CONFIG"
)

// FileConfig is the client config file that `hsmsim up` writes and that the PKCS#11 module, the
// CLI and the KMS read: where the cluster is and how to trust it, like CloudHSM's client
// configuration (cluster nodes plus customerCA.crt).
type FileConfig struct {
	ClusterID   string `json:"cluster_id"`
	Label       string `json:"label,omitempty"`           // token label; default: the cluster id
	TrustAnchor string `json:"trust_anchor"`              // path to the cluster's customerCA.crt (PEM)
	Nodes       []Node `json:"nodes"`                     // at least one; the rest are learned
	Profile     string `json:"profile,omitempty"`         // PKCS#11 behaviour: "standard" (default) or "cloudhsm"
	LogFile     string `json:"log_file,omitempty"`        // module log; empty: stderr
	LogLevel    string `json:"log_level,omitempty"`       // debug, info (default), warn, error
	Attempt     string `json:"attempt_timeout,omitempty"` // one attempt on one node, e.g. "3s"
	MaxBuffer   int    `json:"max_buffer,omitempty"`      // multi-part operation buffer in bytes (default 64 KiB)
}

// DefaultConfigPath is where the config is looked for when no variable names it.
func DefaultConfigPath() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "hsmsim", "client.json")
	}
	return "client.json"
}

// ConfigPath resolves the config file: the first variable of vars that is set, else the default.
func ConfigPath(vars ...string) string {
	for _, v := range vars {
		if p := os.Getenv(v); p != "" {
			return p
		}
	}
	return DefaultConfigPath()
}

// LoadConfig reads and checks a config file. Relative trust anchor paths are relative to the file.
func LoadConfig(path string) (*FileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c FileConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Nodes) == 0 {
		return nil, fmt.Errorf("%s: no nodes", path)
	}
	if c.TrustAnchor == "" {
		return nil, fmt.Errorf("%s: no trust_anchor", path)
	}
	if !filepath.IsAbs(c.TrustAnchor) {
		c.TrustAnchor = filepath.Join(filepath.Dir(path), c.TrustAnchor)
	}
	switch c.Profile {
	case "", "standard", "cloudhsm":
	default:
		return nil, fmt.Errorf("%s: profile %q: want standard or cloudhsm", path, c.Profile)
	}
	if _, err := c.AttemptTimeout(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// AttemptTimeout parses attempt_timeout (zero when unset).
func (c *FileConfig) AttemptTimeout() (time.Duration, error) {
	if c.Attempt == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.Attempt)
	if err != nil || d <= 0 {
		return 0, errors.New("attempt_timeout must be a positive duration like 3s")
	}
	return d, nil
}

// Write saves the config (0600: it names the cluster, not secrets, but stays private anyway).
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

// DialConfig connects to the cluster a config file describes.
func DialConfig(c *FileConfig) (*Client, error) {
	ca, err := os.ReadFile(c.TrustAnchor)
	if err != nil {
		return nil, fmt.Errorf("trust anchor: %w", err)
	}
	at, err := c.AttemptTimeout()
	if err != nil {
		return nil, err
	}
	return Dial(Config{Nodes: c.Nodes, CAPEM: ca, AttemptTimeout: at})
}
