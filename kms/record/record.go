// Package record is the KMS's records and their persistence: a key (its identity, spec, state,
// material versions, policy, tags and multi-Region role), an alias, and the bbolt file every
// key, alias, grant and custom key store is kept in. Package kms holds the records in memory
// under its lock and serves the operations over them; this package knows nothing of requests.
package record

import (
	"maps"
	"slices"
	"time"

	"github.com/hsmsim/hsmsim/kms/keymaterial"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Key is a KMS key.
type Key struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Region    string    `json:"region"`
	Created   time.Time `json:"created"`
	Desc      string    `json:"description"`
	Usage     string    `json:"usage"`
	Spec      string    `json:"spec"`
	Origin    string    `json:"origin"`
	Enabled   bool      `json:"enabled"`
	Pending   bool      `json:"pending_deletion,omitempty"`
	DeleteAt  time.Time `json:"delete_at,omitzero"`
	Window    int       `json:"window,omitempty"`
	StoreID   string    `json:"store,omitempty"`
	ClusterID string    `json:"cluster,omitempty"`
	// The key material: Versions, oldest first, the last one encrypts (version numbers start at
	// 1 and appear in every ciphertext), and imported material pending rotation.
	keymaterial.Set
	RotationOn     bool      `json:"rotation,omitempty"`
	RotationPeriod int       `json:"rotation_period,omitempty"`
	NextRotation   time.Time `json:"next_rotation,omitzero"`
	Tags           []Tag     `json:"tags,omitempty"`
	Policy         string    `json:"policy"`
	// Compiled is Policy compiled (nil: a stored policy that no longer parses, which allows
	// nobody); replaced, never changed.
	Compiled  *policy.Policy `json:"-"`
	PublicKey []byte         `json:"public_key,omitempty"` // DER SubjectPublicKeyInfo (asymmetric)
	// A multi-Region key has the same id in every region of its set, and each key of the set
	// names the region of the primary.
	MultiRegion   bool      `json:"multi_region,omitempty"`
	PrimaryRegion string    `json:"primary_region,omitempty"`
	CreatingUntil time.Time `json:"creating_until,omitzero"` // a new replica is Creating until then
	UpdatingUntil time.Time `json:"updating_until,omitzero"` // UpdatePrimaryRegion's Updating, until then
	// UsedTokens are the import tokens that served an import, until they expire.
	UsedTokens map[string]time.Time `json:"used_tokens,omitempty"`
}

// Tag is a resource tag.
type Tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// Alias is an alias of a key of its account and region.
type Alias struct {
	Name    string    `json:"name"`
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Target  string    `json:"target"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// AliasRef is how aliases are found and stored: by account, region and name.
func AliasRef(account, region, name string) string { return account + "/" + region + "/" + name }

// Names says whether a names key k.
func (a *Alias) Names(k *Key) bool {
	return a.Target == k.ID && a.Account == k.Account && a.Region == k.Region
}

// Ref is how keys are found in memory and stored in bbolt: by account, region and key id,
// because the keys of a multi-Region set share their id.
func Ref(account, region, id string) string { return account + "/" + region + "/" + id }

// Ref is k's reference.
func (k *Key) Ref() string { return Ref(k.Account, k.Region, k.ID) }

// Clone copies a key record so a change can be persisted before it becomes visible.
func (k *Key) Clone() *Key {
	c := *k
	c.Set = k.Set.Clone()
	c.Tags = append([]Tag(nil), k.Tags...)
	c.UsedTokens = maps.Clone(k.UsedTokens)
	return &c
}

// ---- Multi-Region keys: what the keys of a set share ----

// IsReplica says whether k is a multi-Region key other than its set's primary.
func (k *Key) IsReplica() bool { return k.MultiRegion && k.Region != k.PrimaryRegion }

// SharesWith says whether k already has what o shares with its set: every version of the key
// material and the rotation settings.
func (k *Key) SharesWith(o *Key) bool {
	return len(k.Versions) == len(o.Versions) && k.Versions[len(k.Versions)-1].ID == o.Versions[len(o.Versions)-1].ID &&
		k.RotationOn == o.RotationOn && k.RotationPeriod == o.RotationPeriod && k.NextRotation.Equal(o.NextRotation)
}

// CopyShared gives k what src shares with its set.
func (k *Key) CopyShared(src *Key) {
	k.Versions = slices.Clone(src.Versions)
	k.RotationOn, k.RotationPeriod, k.NextRotation = src.RotationOn, src.RotationPeriod, src.NextRotation
}

// ---- The key state table ----

// Key states (KeyState enum).
const (
	StateEnabled     = "Enabled"
	StateDisabled    = "Disabled"
	StatePending     = "PendingDeletion"
	StateUnavailable = "Unavailable"
	// The states of multi-Region keys only.
	StateCreating       = "Creating"
	StateUpdating       = "Updating"
	StatePendingReplica = "PendingReplicaDeletion"
	StateImport         = "PendingImport"
)

// AwaitsImport says whether k is a key of imported material (Origin EXTERNAL) without any now.
func (k *Key) AwaitsImport() bool { return k.Origin == "EXTERNAL" && k.Missing() }

// State is the state k shows at now: available says whether its key store can use its material
// now (a custom key store that is not connected cannot), and a key that cannot is Unavailable,
// unless it is pending deletion (KMSDG:fix-keystore).
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
func (k *Key) State(now time.Time, available bool) string {
	switch {
	case k.Pending && k.DeleteAt.IsZero():
		return StatePendingReplica // a primary key waiting for its replicas' deletion
	case k.Pending:
		return StatePending
	case now.Before(k.CreatingUntil):
		return StateCreating
	case now.Before(k.UpdatingUntil):
		return StateUpdating
	case !available:
		return StateUnavailable
	case k.AwaitsImport():
		return StateImport
	case k.Enabled:
		return StateEnabled
	}
	return StateDisabled
}
