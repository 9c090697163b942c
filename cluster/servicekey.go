package cluster

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The backup service key as a file: hex, one line, mode 0600, as the CloudHSM service keeps its
// own (backup-service.key in its data directory). hsmsim hsmd --restore reads it from a file,
// never from its arguments, so the key shows in no process listing and no log.

// WriteServiceKeyFile writes key to path (mode 0600).
func WriteServiceKeyFile(path string, key []byte) error {
	if len(key) != ServiceKeySize {
		return fmt.Errorf("cluster: a backup service key is %d bytes, not %d", ServiceKeySize, len(key))
	}
	return os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
}

// ReadServiceKeyFile reads a backup service key file, refusing one that others than its owner
// may read (a key anyone can read protects no backup).
func ReadServiceKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("backup service key: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("backup service key %s has mode %04o: it must be readable by its owner only (chmod 600)", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("backup service key: %w", err)
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ServiceKeySize {
		return nil, fmt.Errorf("backup service key %s: want %d bytes as hex on one line", path, ServiceKeySize)
	}
	return k, nil
}

// ReadRestore reads what hsmsim hsmd --restore needs: the backup file and the service key
// file it was sealed under (the flags are named in the errors).
func ReadRestore(backupPath, keyPath string) (backup, serviceKey []byte, err error) {
	if keyPath == "" {
		return nil, nil, errors.New("--restore needs --backup-key-file: the backup service key the backup was sealed under")
	}
	if serviceKey, err = ReadServiceKeyFile(keyPath); err != nil {
		return nil, nil, err
	}
	if backup, err = os.ReadFile(backupPath); err != nil {
		return nil, nil, fmt.Errorf("--restore: %w", err)
	}
	if _, err := ReadBackupInfo(backup); err != nil {
		return nil, nil, fmt.Errorf("--restore %s: %w", backupPath, err)
	}
	return backup, serviceKey, nil
}
