package mech

import (
	"fmt"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// entry is one mechanism: its key-size limits, the extra CKF_* flags it advertises beyond the
// ones its functions imply, and one function per operation it supports. A nil function means
// the mechanism does not do that operation (CKR_MECHANISM_INVALID).
type entry struct {
	minKey, maxKey uint64
	extraFlags     uint64   // CKF_EC_* for EC mechanisms
	implied        attr.Set // key-generation mechanisms: the class and key type they make
	secretOnly     bool     // wraps secret keys only (RSA: a PKCS#8 blob does not fit)
	// zeroPad, for the unpadded block modes (ECB, CBC), is their block size: Wrap pads the key
	// with zeros to a whole block and Unwrap cuts the result back (blockWraps).
	zeroPad int

	genKey  func(m ckm.Mechanism, tmpl attr.Set) (attr.Set, error)
	genPair func(m ckm.Mechanism, pub, priv attr.Set) (attr.Set, attr.Set, error)
	sign    func(m ckm.Mechanism, k *material, data []byte) ([]byte, error)
	verify  func(m ckm.Mechanism, k *material, data, sig []byte) error
	encrypt func(m ckm.Mechanism, k *material, plain []byte) ([]byte, ckm.Mechanism, error)
	decrypt func(m ckm.Mechanism, k *material, ct []byte) ([]byte, error)
	digest  func(m ckm.Mechanism, data []byte) ([]byte, error)
	wrap    func(m ckm.Mechanism, k *material, plain []byte) ([]byte, error)
	unwrap  func(m ckm.Mechanism, k *material, wrapped []byte) ([]byte, error)
	derive  func(m ckm.Mechanism, k *material, tmpl attr.Set) (attr.Set, error)

	// check is Check for this mechanism (check.go): its key and parameter, without data.
	check checker
}

// info computes CK_MECHANISM_INFO from what the entry implements, so the advertised flags can
// never disagree with what the registry actually does.
func (e *entry) info() Info {
	f := uint64(p11.CKF_HW) | e.extraFlags
	for _, c := range []struct {
		has  bool
		flag uint64
	}{
		{e.genKey != nil, p11.CKF_GENERATE},
		{e.genPair != nil, p11.CKF_GENERATE_KEY_PAIR},
		{e.sign != nil, p11.CKF_SIGN},
		{e.verify != nil, p11.CKF_VERIFY},
		{e.encrypt != nil, p11.CKF_ENCRYPT},
		{e.decrypt != nil, p11.CKF_DECRYPT},
		{e.digest != nil, p11.CKF_DIGEST},
		{e.wrap != nil, p11.CKF_WRAP},
		{e.unwrap != nil, p11.CKF_UNWRAP},
		{e.derive != nil, p11.CKF_DERIVE},
	} {
		if c.has {
			f |= c.flag
		}
	}
	return Info{MinKeySize: e.minKey, MaxKeySize: e.maxKey, Flags: f}
}

// registry maps a mechanism type to its entry. It is filled by the init functions of this
// package's files and never changed afterwards, so it is read without locking.
var registry = map[uint32]*entry{}

// register adds a mechanism; a duplicate is a programming error and stops the program at init.
func register(m uint32, e *entry) {
	if _, dup := registry[m]; dup {
		panic(fmt.Sprintf("mech: %s registered twice", p11.MechName(m)))
	}
	if (e.sign != nil || e.verify != nil || e.encrypt != nil || e.decrypt != nil) && e.check == nil {
		// C_*Init answers through check: a mechanism without one would pass any key at Init.
		panic(fmt.Sprintf("mech: %s has operations but no check", p11.MechName(m)))
	}
	registry[m] = e
}

// lookup returns the entry for m or CKR_MECHANISM_INVALID.
func lookup(m uint32) (*entry, error) {
	e := registry[m]
	if e == nil {
		return nil, errMechanismInvalid
	}
	return e, nil
}

// Sentinel errors of the package. Errors with a reason use p11.Errorf; these carry only a code.
var (
	errMechanismInvalid = p11.Error(p11.CKR_MECHANISM_INVALID)
	errDataLen          = p11.Error(p11.CKR_DATA_LEN_RANGE)
	errEncLen           = p11.Error(p11.CKR_ENCRYPTED_DATA_LEN_RANGE)
	errEncInvalid       = p11.Error(p11.CKR_ENCRYPTED_DATA_INVALID)
	errSigInvalid       = p11.Error(p11.CKR_SIGNATURE_INVALID)
	errSigLen           = p11.Error(p11.CKR_SIGNATURE_LEN_RANGE)
	errKeyHandle        = p11.Error(p11.CKR_KEY_HANDLE_INVALID)
)

// remap translates codes for an operation whose spec names different ones (C_WrapKey and
// C_UnwrapKey report problems of their key as CKR_(UN)WRAPPING_KEY_*, and of the blob as
// CKR_WRAPPED_KEY_*). The reason text is kept.
func remap(err error, table map[uint32]uint32) error {
	if err == nil {
		return nil
	}
	rv := p11.Code(err)
	to, ok := table[rv]
	if !ok {
		return err
	}
	return p11.Errorf(to, "%v", err)
}
