package target

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// A backup of a running cluster of hsmd processes (the Cluster service's Backup on its leader)
// restores into new processes (hsmd --restore, then --join): a new, related cluster under its
// own id and the next labels, whose HSMs hold the crypto user's key once every HSM of the old
// cluster is killed; the KMS's directory lists each cluster with its own HSMs.
func TestProcessModeRestoreBackup(t *testing.T) {
	tg, ctx := startTwoProcesses(t)
	const user, pw = "cu1", "cuPassword1"
	adm, err := tg.Admin(ctx, "test-admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.CreateUser(ctx, user, hsmpb.Role_ROLE_CRYPTO_USER, pw); err != nil {
		t.Fatal(err)
	}
	adm.Close()
	cu, err := tg.Client("test-cu", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if _, err := cu.Login(ctx, user, pw); err != nil {
		t.Fatal(err)
	}
	h, err := cu.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}, {Type: p11.CKA_LABEL, Value: []byte("kept")}})
	if err != nil {
		t.Fatal(err)
	}

	// A service key of the wrong size is refused by the RPC itself.
	_, err = clusterpb.NewClusterClient(tg.proc("n1").conn).Backup(ctx, &clusterpb.BackupRequest{ServiceKey: []byte("short")})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Backup with a 5-byte key: %v, want InvalidArgument", err)
	}

	id, backupID, err := tg.RestoreBackup(ctx, "restored")
	if err != nil {
		t.Fatal(err)
	}
	if !cluster.ValidClusterID(id) || id == tg.ClusterID() || tg.RestoredCluster("restored") != id || !strings.HasPrefix(backupID, "backup-") {
		t.Fatalf("restored cluster %q (scenario's %q, RestoredCluster %q), backup %q", id, tg.ClusterID(), tg.RestoredCluster("restored"), backupID)
	}
	var restored []string
	for _, n := range tg.Nodes() {
		if n.Cluster == "restored" {
			restored = append(restored, n.Label+" "+n.AZ+" "+n.State)
		}
	}
	if strings.Join(restored, ",") != "n3 us-east-1a ACTIVE,n4 us-east-1b ACTIVE" {
		t.Fatalf("restored HSMs: %v", restored)
	}
	if ident, err := cluster.NodeDir(tg.proc("n4").dir).ReadIdentity(); err != nil || ident.ClusterID != id {
		t.Fatalf("n4's identity %+v (%v): want cluster %s", ident, err, id)
	}
	for cid, want := range map[string]string{tg.ClusterID(): tg.ID("n1") + tg.ID("n2"), id: tg.ID("n3") + tg.ID("n4")} {
		c, err := tg.Cluster(ctx, "", "", cid)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, hsm := range c.HSMs {
			got += hsm.ID
		}
		if got != want || string(c.ClusterCertificatePEM) != string(tg.TrustAnchorPEM()) {
			t.Errorf("directory's cluster %s: HSMs %s, want %s", cid, got, want)
		}
	}

	for _, l := range []string{"n1", "n2"} {
		if err := tg.Kill(l); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range []string{"n3", "n4"} {
		have, err := tg.Holds(ctx, l, []uint32{h}, map[string]string{user: pw})
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if !have[h] {
			t.Errorf("%s does not hold key %d from the backup", l, h)
		}
	}

	backup := filepath.Join(tg.dir, backupsDir, backupID+".backup")
	if fi, err := os.Stat(filepath.Join(tg.dir, serviceKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("service key file: %v %v", fi, err)
	}
	t.Run("refused", func(t *testing.T) { testRestoreRefused(t, tg, backup) })
}

// testRestoreRefused: hsmd --restore with a wrong, unreadable, missing or too open key file
// exits with an error that says so, never shows the key, and starts nothing (not even its data
// directory).
func testRestoreRefused(t *testing.T, tg *Processes, backup string) {
	dir := t.TempDir()
	right, err := os.ReadFile(filepath.Join(tg.dir, serviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wrong := hex.EncodeToString(cluster.NewServiceKey()) + "\n"
	for _, c := range []struct {
		name string
		key  []string // the --backup-key-file flag
		want string
	}{
		{"wrong key", []string{"--backup-key-file", write("wrong.key", []byte(wrong), 0o600)}, "wrong service key"},
		{"open to others", []string{"--backup-key-file", write("open.key", right, 0o644)}, "mode 0644"},
		{"not hex", []string{"--backup-key-file", write("text.key", []byte("secret"), 0o600)}, "as hex"},
		{"missing file", []string{"--backup-key-file", filepath.Join(dir, "none.key")}, "no such file"},
		{"no flag", nil, "needs --backup-key-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			api, err := freePort()
			if err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
			args := append([]string{"hsmd", "--data-dir", data, "--listen", api, "--restore", backup,
				"--ca-cert", filepath.Join(tg.dir, caCertFile), "--ca-key", filepath.Join(tg.dir, caKeyFile)}, c.key...)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tg.bin, args...).CombinedOutput()
			if err == nil || ctx.Err() != nil {
				t.Fatalf("hsmd ran (err %v, ctx %v):\n%s", err, ctx.Err(), out)
			}
			if !strings.Contains(string(out), c.want) {
				t.Errorf("output does not say %q:\n%s", c.want, out)
			}
			if strings.Contains(string(out), strings.TrimSpace(string(right))) || strings.Contains(string(out), strings.TrimSpace(wrong)) {
				t.Errorf("output shows a key:\n%s", out)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("data directory %s: %v, want none", data, err)
			}
		})
	}
}
