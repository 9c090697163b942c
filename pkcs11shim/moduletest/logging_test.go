package moduletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The module is quiet by default: a pkcs11-tool run prints no log line on stderr, as a vendor
// module would. HSMSIM_PKCS11_LOG_LEVEL raises the level and HSMSIM_PKCS11_LOG_FILE sends the
// lines to a file, over what the config file says.
func TestQuietByDefault(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Skip("pkcs11-tool is not installed (Debian package opensc; make test installs it)")
	}
	c := newCluster(t, standard, func(c *moduleConfig) { c.LogFile, c.LogLevel = "", "" })
	try := func(env ...string) (stdout, stderr string, err error) {
		t.Helper()
		cmd := exec.Command(tool, "--module", libPath, "-L")
		cmd.Env = append(os.Environ(), append([]string{"HSMSIM_PKCS11_CONFIG=" + c.cfgPath}, env...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err = cmd.Run()
		return out.String(), errb.String(), err
	}
	run := func(env ...string) (stdout, stderr string) {
		t.Helper()
		out, errs, err := try(env...)
		if err != nil {
			t.Fatalf("pkcs11-tool -L: %v\n%s%s", err, out, errs)
		}
		return out, errs
	}
	if out, errs := run(); strings.Contains(errs, "level=") || !strings.Contains(out, "Slot 0") {
		t.Fatalf("default run is not quiet (or listed no slot):\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	if _, errs := run("HSMSIM_PKCS11_LOG_LEVEL=info"); !strings.Contains(errs, "level=INFO") || !strings.Contains(errs, "msg=initialized") {
		t.Fatalf("HSMSIM_PKCS11_LOG_LEVEL=info logs nothing at INFO:\n%s", errs)
	}
	logPath := filepath.Join(t.TempDir(), "module.log")
	_, errs := run("HSMSIM_PKCS11_LOG_LEVEL=debug", "HSMSIM_PKCS11_LOG_FILE="+logPath)
	if strings.Contains(errs, "level=") {
		t.Fatalf("with HSMSIM_PKCS11_LOG_FILE, lines still go to stderr:\n%s", errs)
	}
	b, err := os.ReadFile(logPath)
	if err != nil || !strings.Contains(string(b), "msg=initialized") || !strings.Contains(string(b), "msg=finalized") {
		t.Fatalf("log file %s: %v\n%s", logPath, err, b)
	}
	// A level the module does not know fails C_Initialize and says which variable is wrong.
	if _, errs, err := try("HSMSIM_PKCS11_LOG_LEVEL=loud"); err == nil || !strings.Contains(errs, "HSMSIM_PKCS11_LOG_LEVEL") {
		t.Fatalf("a bad level: pkcs11-tool %v, stderr:\n%s", err, errs)
	}
}
