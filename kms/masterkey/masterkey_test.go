package masterkey

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSealSurvivesReopen: the key file made at the first Open serves the next, a sealed value
// opens only under its own name, and a file of the wrong size is refused.
func TestSealSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kms-master.key")
	k, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed := k.Seal([]byte("secret"), "kms-material:a:1")
	k2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := k2.Unseal(sealed, "kms-material:a:1"); err != nil || string(p) != "secret" {
		t.Fatalf("unseal after reopening: %q %v", p, err)
	}
	if _, err := k2.Unseal(sealed, "kms-material:b:1"); err == nil {
		t.Fatal("a sealed value opened under another name")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode())
	}
	bad := filepath.Join(t.TempDir(), "short.key")
	if err := os.WriteFile(bad, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Fatal("a 5-byte master key was accepted")
	}
}
