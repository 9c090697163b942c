package target

import (
	"sync"
	"time"
)

// Registry maps a scenario's names to what setup made: users and their passwords, HSM keys,
// KMS keys and key stores; and keeps the ciphertexts the KMS workloads produced, for decrypt
// workloads and the final check.
type Registry struct {
	mu          sync.Mutex
	Users       map[string]string // crypto user → password
	HSMKeys     map[string]uint32 // setup key → handle (the private key of a pair)
	KMSKeys     map[string]string // kms-key → key id
	Stores      map[string]string // keystore → custom key store id
	KMSUserPass string            // the kmsuser password the scenario knows (KMS rotates its own)
	cts         []Ciphertext
	next        int
}

// Ciphertext is one acknowledged KMS encryption.
type Ciphertext struct {
	KeyID      string
	Blob       []byte
	Plaintext  []byte
	StoreKey   string // the kms-key name
	ProducedAt time.Duration
}

// NewRegistry makes an empty registry.
func NewRegistry() *Registry {
	return &Registry{Users: map[string]string{}, HSMKeys: map[string]uint32{}, KMSKeys: map[string]string{}, Stores: map[string]string{}}
}

// maxCiphertexts bounds what the registry keeps (a ring).
const maxCiphertexts = 512

// AddCiphertext remembers an acknowledged encryption.
func (r *Registry) AddCiphertext(c Ciphertext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cts) < maxCiphertexts {
		r.cts = append(r.cts, c)
		return
	}
	r.cts[r.next%maxCiphertexts] = c
	r.next++
}

// Ciphertexts returns the ciphertexts kept.
func (r *Registry) Ciphertexts() []Ciphertext {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Ciphertext(nil), r.cts...)
}

// Ciphertext returns the i-th kept ciphertext modulo the count (ok false when none).
func (r *Registry) Ciphertext(i int) (Ciphertext, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cts) == 0 {
		return Ciphertext{}, false
	}
	return r.cts[i%len(r.cts)], true
}

// Lock and Unlock guard the maps for callers that change them after setup.
func (r *Registry) Lock()   { r.mu.Lock() }
func (r *Registry) Unlock() { r.mu.Unlock() }
