package cluster

import (
	"crypto/rand"
	"regexp"
)

// IDs follow the AWS CloudHSM patterns: a prefix and 11 to 16 characters of [2-7a-zA-Z]. New
// ones use 11 characters of the lower-case base32 alphabet, as AWS does.
var (
	clusterIDPattern = regexp.MustCompile(`^cluster-[2-7a-zA-Z]{11,16}$`)
	hsmIDPattern     = regexp.MustCompile(`^hsm-[2-7a-zA-Z]{11,16}$`)
	backupIDPattern  = regexp.MustCompile(`^backup-[2-7a-zA-Z]{11,16}$`)
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

func newID(prefix string) string {
	b := make([]byte, 11)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)] // 256 is a multiple of 32: no bias
	}
	return prefix + string(b)
}

// NewClusterID returns a fresh cluster id, "cluster-" and 11 characters.
func NewClusterID() string { return newID("cluster-") }

// NewHSMID returns a fresh HSM id, "hsm-" and 11 characters.
func NewHSMID() string { return newID("hsm-") }

// NewBackupID returns a fresh backup id, "backup-" and 11 characters.
func NewBackupID() string { return newID("backup-") }

// ValidClusterID reports whether s has the AWS cluster id form.
func ValidClusterID(s string) bool { return clusterIDPattern.MatchString(s) }

// ValidHSMID reports whether s has the AWS HSM id form. Node certificates carry it as their
// common name; the cluster service and the Raft transport accept only such certificates.
func ValidHSMID(s string) bool { return hsmIDPattern.MatchString(s) }

// ValidBackupID reports whether s has the AWS backup id form.
func ValidBackupID(s string) bool { return backupIDPattern.MatchString(s) }
