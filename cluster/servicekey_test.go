package cluster_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/cluster"
)

// The backup service key file: written 0600 and read back; a file others may read, one not
// holding 32 bytes of hex, and --restore without the key's file are refused, naming why.
func TestServiceKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "service.key")
	k := cluster.NewServiceKey()
	if err := cluster.WriteServiceKeyFile(p, k); err != nil {
		t.Fatal(err)
	}
	if got, err := cluster.ReadServiceKeyFile(p); err != nil || string(got) != string(k) {
		t.Fatalf("read back %x, %v; want %x", got, err, k)
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.ReadServiceKeyFile(p); err == nil || !strings.Contains(err.Error(), "mode 0640") {
		t.Fatalf("a key file the group may read: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("00ff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.ReadServiceKeyFile(bad); err == nil || !strings.Contains(err.Error(), "32 bytes as hex") {
		t.Fatalf("a 2-byte key: %v", err)
	}
	if err := cluster.WriteServiceKeyFile(bad, []byte("short")); err == nil {
		t.Fatal("wrote a 5-byte service key")
	}
	if _, _, err := cluster.ReadRestore(filepath.Join(dir, "b.backup"), ""); err == nil || !strings.Contains(err.Error(), "--backup-key-file") {
		t.Fatalf("--restore without --backup-key-file: %v", err)
	}
}
