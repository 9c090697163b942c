package pkcs11shim

import (
	"bytes"
	"crypto/rand"
	"errors"
	"sync"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// errBufferTooSmall is the output convention's "call again with more room": the operation stays
// active and the result is kept for the retry.
var errBufferTooSmall = p11.Error(p11.CKR_BUFFER_TOO_SMALL)

// opKind is one of the session's operation slots; each may be active independently, as the spec
// allows one active operation per function family per session.
type opKind int

const (
	opEncrypt opKind = iota
	opDecrypt
	opSign
	opVerify
	opDigest
	numOps
)

var opNeeds = [numOps]uint64{p11.CKF_ENCRYPT, p11.CKF_DECRYPT, p11.CKF_SIGN, p11.CKF_VERIFY, p11.CKF_DIGEST}

// operation is an active *Init: the node keeps no operation state, so the mechanism, the key and
// the data of C_*Update live here until the one RPC of C_* or C_*Final.
type operation struct {
	mech  ckm.Mechanism
	key   uint32
	buf   []byte
	multi bool // C_*Update was called: only C_*Final may end it
	// single: a single-part call (C_Encrypt, C_Digest, ...) asked the length or had too little
	// room, which leaves the operation active for that call again (v2.40 §5.2); the operation is
	// then a single-part one, and a multi-part call is CKR_OPERATION_ACTIVE (multiOp).
	single bool
	// stream is set for the block modes whose C_*Update outputs as it goes (stream.go); buf
	// then holds only what is not yet a whole block, and mech the current chaining value.
	stream *stream
	// ivOut is the caller's CK_GCM_PARAMS.pIV (C memory) when the profile writes the IV the
	// HSM generated back into it.
	ivOut []byte
	// last is the result of a length query or of a call whose buffer was too small: the spec
	// has the application call again with the same input, and that call gets this result
	// rather than a second RPC (and, for GCM, a second IV).
	last *result
}

type result struct {
	in, out, iv []byte
}

// findState is an active C_FindObjectsInit: the node answers the whole list once; C_FindObjects
// pages through it here.
type findState struct {
	handles []uint32
	pos     int
}

// session is one PKCS#11 session. Its mutex serializes calls on it (the spec lets an application
// use a session from one thread at a time; the lock makes a mistake harmless).
type session struct {
	m  *module
	h  uint64
	rw bool

	mu     sync.Mutex
	closed bool
	ops    [numOps]*operation
	find   *findState
}

// state is CK_SESSION_INFO.state.
func (s *session) state() uint64 {
	in := s.m.loggedIn()
	switch {
	case s.m.soLoggedIn():
		return p11.CKS_RW_SO_FUNCTIONS // an SO login has R/W sessions only (openSession)
	case s.rw && in:
		return p11.CKS_RW_USER_FUNCTIONS
	case s.rw:
		return p11.CKS_RW_PUBLIC_SESSION
	case in:
		return p11.CKS_RO_USER_FUNCTIONS
	}
	return p11.CKS_RO_PUBLIC_SESSION
}

// lock takes the session for one call; a session closed meanwhile is CKR_SESSION_HANDLE_INVALID.
func (s *session) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return p11.Error(p11.CKR_SESSION_HANDLE_INVALID)
	}
	return nil
}

func (s *session) unlock() { s.mu.Unlock() }

// writable refuses to touch a token object from a read-only session.
func (s *session) writable(tokenObject bool) error {
	if tokenObject && !s.rw {
		return p11.Error(p11.CKR_SESSION_READ_ONLY)
	}
	return nil
}

// isTokenTemplate reports what CKA_TOKEN a template asks for (false when absent, its default),
// and whether it says at all.
func isTokenTemplate(t []attr.Attribute) (token, given bool) {
	for _, a := range t {
		if a.Type == p11.CKA_TOKEN {
			return len(a.Value) == 1 && a.Value[0] != 0, true
		}
	}
	return false, false
}

func isGCM(t uint32) bool { return t == p11.CKM_AES_GCM }

// initOp is C_EncryptInit, C_DecryptInit, C_SignInit, C_VerifyInit and C_DigestInit after the
// argument conversion. The mechanism is checked against the node's list, then the key and the
// mechanism with the node (keyuse.go), so each error is answered at the Init the spec names.
func (s *session) initOp(k opKind, mc ckm.Mechanism, key uint32, ivOut []byte) error {
	if s.ops[k] != nil {
		return p11.Error(p11.CKR_OPERATION_ACTIVE)
	}
	if err := s.m.checkMechanism(mc, opNeeds[k]); err != nil {
		return err
	}
	op := &operation{mech: mc, key: key, stream: newStream(k, mc)}
	if isGCM(mc.Type) && k == opEncrypt {
		g, _ := mc.Param.(*ckm.GCMParams)
		if g == nil {
			return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM needs CK_GCM_PARAMS")
		}
		if s.m.cloudHSM() {
			// CloudHSM: the HSM makes the 12-byte IV and writes it into pIV; the caller's buffer
			// is zeroed at init so a stale IV is never mistaken for the one used.
			if len(ivOut) != 12 {
				return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "profile cloudhsm: pIV must be a 12-byte buffer the HSM fills")
			}
			clear(ivOut)
			op.mech = ckm.Mechanism{Type: mc.Type, Param: &ckm.GCMParams{AAD: g.AAD, TagBits: g.TagBits}}
			op.ivOut = ivOut
		} else if len(g.IV) == 0 {
			return p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM needs an IV (profile standard)")
		}
	}
	if k != opDigest {
		if err := s.m.checkKeyUse(k, op.mech, key); err != nil {
			return err
		}
	}
	s.ops[k] = op
	return nil
}

func (s *session) op(k opKind) (*operation, error) {
	if op := s.ops[k]; op != nil {
		return op, nil
	}
	return nil, p11.Error(p11.CKR_OPERATION_NOT_INITIALIZED)
}

func (s *session) end(k opKind) { s.ops[k] = nil }

// multiOp returns the operation a multi-part call (C_*Update, C_*Final, C_DigestKey) continues,
// or CKR_OPERATION_ACTIVE when a single-part call has begun it. The refusal ends the operation,
// as every error of those calls does: v2.40 §5.8 ("A call to C_EncryptUpdate which results in an
// error terminates the current encryption operation"), §5.10 ("A call to C_DigestFinal always
// terminates the active digest operation unless it returns CKR_BUFFER_TOO_SMALL or is a
// successful call ... to determine the length"), and the same words for the other families.
func (s *session) multiOp(k opKind) (*operation, error) {
	op, err := s.op(k)
	if err == nil && op.single {
		s.end(k)
		return nil, p11.Errorf(p11.CKR_OPERATION_ACTIVE, "a single-part call began this operation: only that call may end it")
	}
	return op, err
}

// lenRange is the "too much data" code of an operation.
func lenRange(k opKind) uint32 {
	if k == opDecrypt {
		return p11.CKR_ENCRYPTED_DATA_LEN_RANGE
	}
	return p11.CKR_DATA_LEN_RANGE
}

// update is C_EncryptUpdate, C_DecryptUpdate, C_SignUpdate, C_VerifyUpdate and C_DigestUpdate:
// the data is kept here, up to max_buffer bytes, for the one RPC of C_*Final.
func (s *session) update(k opKind, data []byte) error {
	op, err := s.multiOp(k)
	if err != nil {
		return err
	}
	if err := s.m.multiPart(op.mech.Type); err != nil {
		s.end(k)
		return err
	}
	if err := s.m.checkDataLimit(k, op.mech, len(op.buf)+len(data)); err != nil {
		s.end(k)
		return err
	}
	if len(op.buf)+len(data) > s.m.cfg.MaxBuffer {
		s.end(k)
		return p11.Errorf(lenRange(k), "multi-part data past max_buffer (%d bytes)", s.m.cfg.MaxBuffer)
	}
	op.multi = true
	op.buf = append(op.buf, data...)
	return nil
}

// digestKey is C_DigestKey: the key's value joins the digested data, if the key lets it be read.
func (s *session) digestKey(h uint32) error {
	op, err := s.multiOp(opDigest)
	if err != nil {
		return err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	res, err := s.m.cl.GetAttributes(ctx, h, p11.CKA_VALUE)
	if err != nil {
		s.end(opDigest)
		if p11.Code(err) == p11.CKR_OBJECT_HANDLE_INVALID {
			return p11.Error(p11.CKR_KEY_HANDLE_INVALID)
		}
		return err
	}
	if len(res) != 1 || res[0].Rv != p11.CKR_OK {
		s.end(opDigest)
		return p11.Errorf(p11.CKR_KEY_INDIGESTIBLE, "the key's value cannot be read")
	}
	if len(op.buf)+len(res[0].Value) > s.m.cfg.MaxBuffer {
		s.end(opDigest)
		return p11.Error(p11.CKR_DATA_LEN_RANGE)
	}
	op.multi = true
	op.buf = append(op.buf, res[0].Value...)
	return nil
}

// finish is C_Encrypt, C_Decrypt, C_Sign, C_Digest (final false: data is the whole input) and
// their C_*Final (data nil, the buffered input). It applies the output convention: query (NULL
// output pointer) returns the result and keeps the operation; a result longer than room is
// errBufferTooSmall and keeps it too; anything else ends the operation.
func (s *session) finish(k opKind, data []byte, final bool, room uint64, query bool) ([]byte, error) {
	op, err := s.op(k)
	if final {
		op, err = s.multiOp(k)
	}
	if err != nil {
		return nil, err
	}
	if !final && op.multi {
		s.end(k)
		return nil, p11.Errorf(p11.CKR_OPERATION_ACTIVE, "a multi-part operation ends with its C_*Final")
	}
	in := data
	if final {
		if err := s.m.multiPart(op.mech.Type); err != nil {
			s.end(k)
			return nil, err
		}
		in = op.buf
	}
	r := op.last
	if r == nil || !bytes.Equal(r.in, in) {
		if r, err = s.compute(k, op, in); err != nil {
			s.end(k)
			return nil, err
		}
	}
	if query {
		op.last, op.single = r, !final
		return r.out, nil
	}
	if uint64(len(r.out)) > room {
		op.last, op.single = r, !final
		return r.out, errBufferTooSmall
	}
	if op.ivOut != nil && r.iv != nil {
		copy(op.ivOut, r.iv)
	}
	s.end(k)
	return r.out, nil
}

// compute is the operation's one RPC.
func (s *session) compute(k opKind, op *operation, in []byte) (*result, error) {
	if err := s.m.checkDataLimit(k, op.mech, len(in)); err != nil {
		return nil, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	r := &result{in: append([]byte(nil), in...)}
	var err error
	switch k {
	case opEncrypt:
		var used ckm.Mechanism
		r.out, used, err = s.m.cl.Encrypt(ctx, op.mech, op.key, in)
		if g, ok := used.Param.(*ckm.GCMParams); ok && err == nil {
			r.iv = g.IV
		}
	case opDecrypt:
		r.out, err = s.m.cl.Decrypt(ctx, op.mech, op.key, in)
	case opSign:
		r.out, err = s.m.cl.Sign(ctx, op.mech, op.key, in)
	case opDigest:
		r.out, err = s.m.cl.Digest(ctx, op.mech, in)
	default:
		err = p11.Error(p11.CKR_GENERAL_ERROR)
	}
	if err != nil {
		return nil, err
	}
	if r.out == nil {
		r.out = []byte{}
	}
	return r, nil
}

// verify is C_Verify (final false) and C_VerifyFinal (final true); either ends the operation.
func (s *session) verify(data, sig []byte, final bool) error {
	op, err := s.op(opVerify)
	if err != nil {
		return err
	}
	s.end(opVerify)
	if !final && op.multi {
		return p11.Errorf(p11.CKR_OPERATION_ACTIVE, "a multi-part operation ends with C_VerifyFinal")
	}
	if final {
		if err := s.m.multiPart(op.mech.Type); err != nil {
			return err
		}
		data = op.buf
	}
	if err := s.m.checkDataLimit(opVerify, op.mech, len(data)); err != nil {
		return err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	return s.m.cl.Verify(ctx, op.mech, op.key, data, sig)
}

// findInit is C_FindObjectsInit. A public session finds the public objects in profile standard
// (the node answers an anonymous caller with those alone) and nothing in profile cloudhsm.
func (s *session) findInit(tmpl []attr.Attribute) error {
	if s.find != nil {
		return p11.Error(p11.CKR_OPERATION_ACTIVE)
	}
	f := &findState{}
	if s.m.seesPublicObjects() {
		ctx, cancel := s.m.ctx()
		defer cancel()
		hs, err := s.m.cl.FindObjects(ctx, tmpl)
		if err != nil {
			return err
		}
		f.handles = hs
	}
	s.find = f
	return nil
}

func (s *session) findNext(max int) ([]uint32, error) {
	f := s.find
	if f == nil {
		return nil, p11.Error(p11.CKR_OPERATION_NOT_INITIALIZED)
	}
	n := min(max, len(f.handles)-f.pos)
	out := f.handles[f.pos : f.pos+n]
	f.pos += n
	return out, nil
}

func (s *session) findFinal() error {
	if s.find == nil {
		return p11.Error(p11.CKR_OPERATION_NOT_INITIALIZED)
	}
	s.find = nil
	return nil
}

// Object calls.

func (s *session) createObject(tmpl []attr.Attribute) (uint32, error) {
	if err := s.m.checkImport(tmpl); err != nil {
		return 0, err
	}
	tok, _ := isTokenTemplate(tmpl)
	if err := s.writable(tok); err != nil {
		return 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	h, err := s.m.cl.CreateObject(ctx, s.m.secretKeyDefaults(tmpl, false))
	if err != nil {
		return 0, err
	}
	s.m.noteObject(s, h)
	return h, nil
}

func (s *session) copyObject(src uint32, tmpl []attr.Attribute) (uint32, error) {
	tok, given := isTokenTemplate(tmpl)
	if !given {
		tok = !hsmpb.IsSessionHandle(src)
	}
	if err := s.writable(tok); err != nil {
		return 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	h, err := s.m.cl.CopyObject(ctx, src, tmpl)
	if err != nil {
		return 0, err
	}
	s.m.noteObject(s, h)
	return h, nil
}

func (s *session) destroyObject(h uint32) error {
	if err := s.writable(!hsmpb.IsSessionHandle(h)); err != nil {
		return err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	if err := s.m.cl.DestroyObject(ctx, h); err != nil {
		return err
	}
	s.m.forgetObject(h)
	return nil
}

// cloudHSMSettable is what the CloudHSM library lets C_SetAttributeValue change.
var cloudHSMSettable = map[uint32]bool{
	p11.CKA_LABEL: true, p11.CKA_TOKEN: true, p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true,
	p11.CKA_SIGN: true, p11.CKA_VERIFY: true, p11.CKA_WRAP: true, p11.CKA_UNWRAP: true,
	p11.CKA_SENSITIVE: true, p11.CKA_DERIVE: true, p11.CKA_TRUSTED: true, p11.CKA_WRAP_WITH_TRUSTED: true,
}

func (s *session) setAttributes(h uint32, tmpl []attr.Attribute) error {
	if err := s.writable(!hsmpb.IsSessionHandle(h)); err != nil {
		return err
	}
	if s.m.cloudHSM() {
		for _, a := range tmpl {
			if !cloudHSMSettable[a.Type] {
				return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "profile cloudhsm: %s cannot be changed", p11.AttrName(a.Type))
			}
		}
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	s.m.uses.forget(h) // a usage flag may change: the next Init asks again
	return s.m.cl.SetAttributes(ctx, h, tmpl)
}

func (s *session) generateKey(mc ckm.Mechanism, tmpl []attr.Attribute) (uint32, error) {
	if err := s.m.offers(mc.Type); err != nil {
		return 0, err
	}
	tok, _ := isTokenTemplate(tmpl)
	if err := s.writable(tok); err != nil {
		return 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	h, err := s.m.cl.GenerateKey(ctx, mc, s.m.secretKeyDefaults(tmpl, true))
	if err != nil {
		return 0, err
	}
	s.m.noteObject(s, h)
	return h, nil
}

func (s *session) generateKeyPair(mc ckm.Mechanism, pub, priv []attr.Attribute) (uint32, uint32, error) {
	if err := s.m.offers(mc.Type); err != nil {
		return 0, 0, err
	}
	if err := s.m.checkRSAGenerate(mc.Type, pub); err != nil {
		return 0, 0, err
	}
	t1, _ := isTokenTemplate(pub)
	t2, _ := isTokenTemplate(priv)
	if err := s.writable(t1 || t2); err != nil {
		return 0, 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	ph, kh, err := s.m.cl.GenerateKeyPair(ctx, mc, pub, priv)
	if err != nil {
		return 0, 0, err
	}
	s.m.noteObject(s, ph)
	s.m.noteObject(s, kh)
	return ph, kh, nil
}

// wrapKey is C_WrapKey with the output convention of finish. In profile cloudhsm a GCM wrap
// gets a fresh 12-byte IV written back into pIV, as the CloudHSM library does; the standard
// profile needs the caller's IV.
func (s *session) wrapKey(mc ckm.Mechanism, wrapping, key uint32, ivOut []byte, room uint64, query bool) ([]byte, error) {
	if err := s.m.wraps(mc.Type); err != nil {
		return nil, err
	}
	if isGCM(mc.Type) {
		g, _ := mc.Param.(*ckm.GCMParams)
		if g == nil {
			return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM needs CK_GCM_PARAMS")
		}
		if s.m.cloudHSM() {
			if len(ivOut) != 12 {
				return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "profile cloudhsm: pIV must be a 12-byte buffer the HSM fills")
			}
			iv := make([]byte, 12)
			if _, err := rand.Read(iv); err != nil {
				return nil, err
			}
			mc = ckm.Mechanism{Type: mc.Type, Param: &ckm.GCMParams{IV: iv, AAD: g.AAD, TagBits: g.TagBits}}
		} else if len(g.IV) == 0 {
			return nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "GCM needs an IV (profile standard)")
		}
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	out, err := s.m.cl.WrapKey(ctx, mc, wrapping, key)
	if err != nil {
		return nil, err
	}
	if query {
		return out, nil
	}
	if uint64(len(out)) > room {
		return out, errBufferTooSmall
	}
	if g, ok := mc.Param.(*ckm.GCMParams); ok && s.m.cloudHSM() {
		copy(ivOut, g.IV)
	}
	return out, nil
}

func (s *session) unwrapKey(mc ckm.Mechanism, unwrapping uint32, wrapped []byte, tmpl []attr.Attribute) (uint32, error) {
	if err := s.m.wraps(mc.Type); err != nil {
		return 0, err
	}
	if err := s.m.checkImport(tmpl); err != nil {
		return 0, err
	}
	tok, _ := isTokenTemplate(tmpl)
	if err := s.writable(tok); err != nil {
		return 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	h, err := s.m.cl.UnwrapKey(ctx, mc, unwrapping, wrapped, s.m.secretKeyDefaults(tmpl, false))
	if err != nil {
		return 0, err
	}
	s.m.noteObject(s, h)
	return h, nil
}

func (s *session) deriveKey(mc ckm.Mechanism, base uint32, tmpl []attr.Attribute) (uint32, error) {
	if err := s.m.offers(mc.Type); err != nil {
		return 0, err
	}
	if err := s.m.checkImport(tmpl); err != nil {
		return 0, err
	}
	tok, _ := isTokenTemplate(tmpl)
	if err := s.writable(tok); err != nil {
		return 0, err
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	h, err := s.m.cl.DeriveKey(ctx, mc, base, s.m.secretKeyDefaults(tmpl, false))
	if err != nil {
		return 0, err
	}
	s.m.noteObject(s, h)
	return h, nil
}

// maxRandomRPC is the most one GenerateRandom RPC returns; longer requests take several.
const maxRandomRPC = 1 << 20

func (s *session) random(out []byte) error {
	ctx, cancel := s.m.ctx()
	defer cancel()
	for len(out) > 0 {
		n := min(len(out), maxRandomRPC)
		b, err := s.m.cl.GenerateRandom(ctx, uint32(n))
		if err != nil {
			return err
		}
		if len(b) != n {
			return errors.New("short random answer")
		}
		out = out[copy(out, b):]
	}
	return nil
}

func (s *session) objectSize(h uint32) (uint64, error) {
	ctx, cancel := s.m.ctx()
	defer cancel()
	r, err := s.m.cl.API().GetObjectSize(ctx, &hsmpb.ObjectRequest{Handle: h})
	if err != nil {
		return 0, err
	}
	return r.Size, nil
}

func (s *session) getAttributes(h uint32, types []uint32) ([]*hsmpb.AttributeResult, error) {
	ctx, cancel := s.m.ctx()
	defer cancel()
	return s.m.cl.GetAttributes(ctx, h, types...)
}
