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

// The variables that override the config file's logging, so a user can turn the module's log
// up for one run of a program without editing the file the whole machine shares.
const (
	EnvLogLevel = "HSMSIM_PKCS11_LOG_LEVEL"
	EnvLogFile  = "HSMSIM_PKCS11_LOG_FILE"
)

// LoadConfig reads and checks a config file, then applies the logging variables.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	fc, err := client.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if v := getenv(EnvLogLevel); v != "" {
		lvl, err := client.ParseLogLevel(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvLogLevel, err)
		}
		fc.Level = lvl
	}
	if v := getenv(EnvLogFile); v != "" {
		fc.LogFile = v
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
