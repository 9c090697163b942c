package token

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"regexp"

	"golang.org/x/crypto/argon2"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Role is a user's role, CloudHSM style.
type Role = hsmpb.Role

const (
	RoleAdmin            = hsmpb.Role_ROLE_ADMIN
	RoleCryptoUser       = hsmpb.Role_ROLE_CRYPTO_USER
	RoleUnactivatedAdmin = hsmpb.Role_ROLE_UNACTIVATED_ADMIN
)

// MaxFailedLogins is how many wrong passwords in a row lock a user until an admin resets it,
// as on CloudHSM.
const MaxFailedLogins = 5

// AdminName is the name of the cluster's first admin, created unactivated at bootstrap.
const AdminName = "admin"

// InitialAdminPassword is the unactivated admin's password until its first change, as the
// PRECO's "password" on CloudHSM.
const InitialAdminPassword = "password"

// User is one HSM user. Values in State are never changed in place.
type User struct {
	Name       string
	Role       Role
	Hash       *hsmpb.PasswordHash
	Failed     uint32
	Locked     bool
	Generation uint64
}

// Login is one active login: its id is the credential every node accepts.
type Login struct {
	ID      string
	User    string
	At      int64 // when it began (the proposer's clock, Unix seconds)
	Renewed int64 // its last renewal; 0: never renewed
}

// Last is when the login last showed it was alive: its lease runs from there.
func (l *Login) Last() int64 { return max(l.At, l.Renewed) }

func loginToStored(l *Login) *hsmpb.StoredLogin {
	return &hsmpb.StoredLogin{Id: l.ID, User: l.User, AtUnix: l.At, RenewedUnix: l.Renewed}
}

func loginFromStored(sl *hsmpb.StoredLogin) *Login {
	return &Login{ID: sl.Id, User: sl.User, At: sl.AtUnix, Renewed: sl.RenewedUnix}
}

var userNameRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,31}$`)

// CheckUserName validates a user name (CloudHSM: up to 31 alphanumerics and underscores).
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return p11.Errorf(p11.CKR_ARGUMENTS_BAD, "user name %q: 1-31 letters, digits or underscores", name)
	}
	return nil
}

// CheckPassword validates a new password: 7-32 characters, the range the KMS key store password
// also uses (CloudHSM's newer docs say 8-32; 7 keeps every KMS-valid password usable).
func CheckPassword(pw string) error {
	if len(pw) < 7 || len(pw) > 32 {
		return p11.Errorf(p11.CKR_PIN_LEN_RANGE, "password must be 7-32 characters")
	}
	return nil
}

// KDFParams are the argon2id costs for new hashes. The defaults are OWASP's minimum for argon2id
// (19 MiB, 2 passes); tests may lower them, and each hash records its own parameters.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDF is the cost new password hashes get.
var DefaultKDF = KDFParams{Time: 2, MemoryKiB: 19 * 1024, Threads: 1}

// HashPassword makes a salted argon2id hash. It runs on the proposer, never in Apply.
func HashPassword(pw string, p KDFParams) (*hsmpb.PasswordHash, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	return &hsmpb.PasswordHash{
		Salt: salt, Time: p.Time, MemoryKib: p.MemoryKiB, Threads: uint32(p.Threads),
		Hash: argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, 32),
	}, nil
}

// VerifyPassword compares in constant time.
func VerifyPassword(pw string, h *hsmpb.PasswordHash) bool {
	if h == nil || h.Time == 0 || h.MemoryKib == 0 || h.Threads == 0 || h.Threads > 255 || len(h.Hash) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), h.Salt, h.Time, h.MemoryKib, uint8(h.Threads), uint32(len(h.Hash)))
	return subtle.ConstantTimeCompare(got, h.Hash) == 1
}

func checkHash(h *hsmpb.PasswordHash) error {
	if h == nil || len(h.Salt) < 8 || len(h.Hash) < 16 || h.Time == 0 || h.MemoryKib < 8 || h.Threads == 0 || h.Threads > 255 ||
		h.MemoryKib > 4<<20 || h.Time > 64 {
		return fmt.Errorf("malformed password hash")
	}
	return nil
}
