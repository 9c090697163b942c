package benchrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// SoftHSMPaths are where Debian's softhsm2 package (and a source install) put SoftHSM v2's
// module, the peer hsmsim's module is compared with.
var SoftHSMPaths = []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so"}

// SoftHSMPIN is the user and SO PIN of the token NewSoftHSMToken makes.
const SoftHSMPIN = "1234"

// NewSoftHSMToken makes a fresh SoftHSM v2 token labelled label in dir (file object store) and
// points this process's SoftHSM at it (SOFTHSM2_CONF), returning the module's path.
func NewSoftHSMToken(dir, label string) (string, error) {
	module := ""
	for _, p := range SoftHSMPaths {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		return "", errors.New("SoftHSM v2 not found (Debian package softhsm2; make test and make bench install it)")
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return "", err
	}
	if err := os.Setenv("SOFTHSM2_CONF", conf); err != nil {
		return "", err
	}
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", SoftHSMPIN, "--so-pin", SoftHSMPIN)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return module, nil
}
