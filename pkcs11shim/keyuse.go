package pkcs11shim

import (
	"sync"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// C_EncryptInit, C_DecryptInit, C_SignInit and C_VerifyInit answer the key and mechanism errors
// the spec names for them (an invalid handle, a usage flag that forbids the operation, a key
// type or size the mechanism does not take, a bad parameter): the node checks without data
// (CheckKeyUse), so the operation's one RPC is not where such an error first shows. What the node
// said yes to is remembered per key, operation, mechanism and parameter shape, so an application
// that signs in a loop asks once; it is forgotten when this application destroys the key or
// changes its attributes, and at every login and logout (handles mean other objects to another
// user). Another application changing the key meanwhile is seen by the operation itself.

// keyUse is one remembered yes. shape holds the parameter's lengths and numeric fields, the only
// parts of it the node's check reads (mech.Check).
type keyUse struct {
	key, usage, mech uint32
	shape            paramShape
}

type paramShape struct {
	kind    uint8
	a, b, c uint64
}

// shapeOf is the parameter's shape, and false for a parameter kind it does not know (then the
// answer is not remembered).
func shapeOf(m ckm.Mechanism) (paramShape, bool) {
	switch p := m.Param.(type) {
	case nil:
		return paramShape{}, true
	case ckm.IV:
		return paramShape{kind: 1, a: uint64(len(p))}, true
	case *ckm.GCMParams:
		return paramShape{kind: 2, a: uint64(len(p.IV)), b: uint64(p.TagBits)}, true
	case *ckm.CTRParams:
		return paramShape{kind: 3, a: uint64(len(p.CB)), b: uint64(p.CounterBits)}, true
	case *ckm.PSSParams:
		return paramShape{kind: 4, a: uint64(p.Hash), b: uint64(p.MGF), c: uint64(p.SaltLen)}, true
	case *ckm.OAEPParams:
		return paramShape{kind: 5, a: uint64(p.Hash), b: uint64(p.MGF)}, true
	}
	return paramShape{}, false
}

// maxKeyUses bounds the memory: past it the whole set is dropped and relearned.
const maxKeyUses = 4096

type keyUses struct {
	mu  sync.Mutex
	yes map[keyUse]struct{}
}

func (u *keyUses) known(k keyUse) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.yes[k]
	return ok
}

func (u *keyUses) remember(k keyUse) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.yes == nil || len(u.yes) >= maxKeyUses {
		u.yes = map[keyUse]struct{}{}
	}
	u.yes[k] = struct{}{}
}

// forget drops what is known of one key, or of every key (no argument).
func (u *keyUses) forget(keys ...uint32) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(keys) == 0 {
		clear(u.yes)
		return
	}
	for k := range u.yes {
		for _, h := range keys {
			if k.key == h {
				delete(u.yes, k)
			}
		}
	}
}

// usageOf is an operation's key attribute.
var usageOf = [numOps]uint32{opEncrypt: p11.CKA_ENCRYPT, opDecrypt: p11.CKA_DECRYPT, opSign: p11.CKA_SIGN, opVerify: p11.CKA_VERIFY}

// checkKeyUse asks the node whether op with key and mc could start, unless it said yes before.
func (m *module) checkKeyUse(k opKind, mc ckm.Mechanism, key uint32) error {
	shape, ok := shapeOf(mc)
	use := keyUse{key: key, usage: usageOf[k], mech: mc.Type, shape: shape}
	if ok && m.uses.known(use) {
		return nil
	}
	ctx, cancel := m.ctx()
	defer cancel()
	if err := m.cl.CheckKeyUse(ctx, use.usage, mc, key); err != nil {
		return err
	}
	if ok {
		m.uses.remember(use)
	}
	return nil
}
