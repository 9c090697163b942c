package pkcs11shim

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// Config is the client config file (client.FileConfig documents the format) as the module
// reads it at every C_Initialize, so an application that finalizes and initializes again picks
// up a new file.
type Config struct {
	*client.FileConfig
}

// ConfigPath resolves the config file: $HSMSIM_PKCS11_CONFIG, else $HSMSIM_CONFIG, else the
// default path. getenv reads the process environment as it is now (the module's Go runtime only
// sees a copy made at load).
func ConfigPath(getenv func(string) string) string {
	return client.ConfigPath(getenv, client.EnvPKCS11Config, client.EnvConfig)
}

// LoadConfig reads and checks a config file.
func LoadConfig(path string) (*Config, error) {
	fc, err := client.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return &Config{FileConfig: fc}, nil
}

// openLog returns the logger the config asks for and what to close at C_Finalize.
func (c *Config) openLog() (*slog.Logger, io.Closer, error) {
	var w io.Writer = os.Stderr
	var closer io.Closer = io.NopCloser(nil)
	if c.LogFile != "" {
		f, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("client config %s: log_file: %w", c.Path, err)
		}
		w, closer = f, f
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: c.Level})
	return slog.New(h).With("module", "hsmsim-pkcs11"), closer, nil
}
