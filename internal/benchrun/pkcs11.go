//go:build cgo

package benchrun

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS11Operations are the operations a Module runs, by the names `hsmsim bench pkcs11 --ops`
// takes: each is the miekg/pkcs11 calls an application makes (miekg's Sign and Encrypt make the
// length query and the call).
var PKCS11Operations = []string{"ecdsa", "rsa", "gcm", "keygen"}

// Module is a loaded PKCS#11 module with a logged-in token: a Target. Its keys (a P-256 key
// pair, an RSA-2048 key pair, an AES-256 key, all token objects) are made on first use and
// destroyed by Close, as are the keys a keygen run makes, so a run leaves the token as it was.
type Module struct {
	name string
	ctx  *pkcs11.Ctx
	slot uint
	pin  string

	mu     sync.Mutex
	anchor pkcs11.SessionHandle // logged in for the whole run, so worker sessions share a login
	keys   map[string]pkcs11.ObjectHandle
}

// OpenModule loads the module at path, initializes it and logs in as the user with pin on the
// token labelled token (the first token when token is empty). name labels its results.
func OpenModule(name, path, token, pin string) (*Module, error) {
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load the PKCS#11 module %s", path)
	}
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return nil, fmt.Errorf("%s: C_Initialize: %w", path, err)
	}
	slot, err := findToken(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &Module{name: name, ctx: ctx, slot: slot, pin: pin, keys: map[string]pkcs11.ObjectHandle{}}
	if m.anchor, err = m.session(); err != nil {
		return nil, err
	}
	return m, nil
}

// findToken is the slot whose token has label (the first token without one).
func findToken(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	for _, s := range slots {
		if label == "" {
			return s, nil
		}
		if ti, err := ctx.GetTokenInfo(s); err == nil && ti.Label == label {
			return s, nil
		}
	}
	if label == "" {
		return 0, errors.New("no slot has a token")
	}
	return 0, fmt.Errorf("no token is labelled %q", label)
}

// Name labels the module's results.
func (m *Module) Name() string { return m.name }

// session opens a R/W session and logs the user in (a login already made by another of the
// application's sessions is fine).
func (m *Module) session() (pkcs11.SessionHandle, error) {
	s, err := m.ctx.OpenSession(m.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return 0, fmt.Errorf("%s: C_OpenSession: %w", m.name, err)
	}
	if err := m.ctx.Login(s, pkcs11.CKU_USER, m.pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		_ = m.ctx.CloseSession(s)
		return 0, fmt.Errorf("%s: C_Login: %w", m.name, err)
	}
	return s, nil
}

var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

// aesTemplate is a 256-bit token AES key as a KMS-style application makes one.
func aesTemplate() []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	}
}

// key is the operation's key, made once.
func (m *Module) key(op string) (pkcs11.ObjectHandle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h, ok := m.keys[op]; ok {
		return h, nil
	}
	tok := pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)
	private := []*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true)}
	var (
		pub, priv pkcs11.ObjectHandle
		err       error
	)
	switch op {
	case "ecdsa":
		pub, priv, err = m.ctx.GenerateKeyPair(m.anchor, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)}, private)
	case "rsa":
		pub, priv, err = m.ctx.GenerateKeyPair(m.anchor, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
			[]*pkcs11.Attribute{tok, pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048), pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)}, private)
	case "gcm":
		priv, err = m.ctx.GenerateKey(m.anchor, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, aesTemplate())
	default:
		return 0, fmt.Errorf("no key for %q", op)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: making the %s key: %w", m.name, op, err)
	}
	if pub != 0 {
		m.keys[op+"/public"] = pub
	}
	m.keys[op] = priv
	return priv, nil
}

// Workers opens n sessions, each with the operation's Op; the cleanup closes them and destroys
// the keys a keygen run made.
func (m *Module) Workers(_ context.Context, op string, n int) ([]Op, func(), error) {
	var key pkcs11.ObjectHandle
	if op != "keygen" {
		var err error
		if key, err = m.key(op); err != nil {
			return nil, nil, err
		}
	}
	made := &handles{}
	sessions := make([]pkcs11.SessionHandle, 0, n)
	cleanup := func() {
		for _, h := range made.take() {
			_ = m.ctx.DestroyObject(m.anchor, h)
		}
		for _, s := range sessions {
			_ = m.ctx.CloseSession(s)
		}
	}
	ops := make([]Op, n)
	for i := range ops {
		s, err := m.session()
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		sessions = append(sessions, s)
		if ops[i], err = m.op(op, s, key, i, made); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return ops, cleanup, nil
}

// op is one session's call for the operation.
func (m *Module) op(op string, s pkcs11.SessionHandle, key pkcs11.ObjectHandle, worker int, made *handles) (Op, error) {
	switch op {
	case "ecdsa":
		digest := sha256.Sum256([]byte("benchmark message"))
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
		return func(context.Context) error {
			if err := m.ctx.SignInit(s, mech, key); err != nil {
				return err
			}
			_, err := m.ctx.Sign(s, digest[:])
			return err
		}, nil
	case "rsa":
		msg := make([]byte, 64)
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil)}
		return func(context.Context) error {
			if err := m.ctx.SignInit(s, mech, key); err != nil {
				return err
			}
			_, err := m.ctx.Sign(s, msg)
			return err
		}, nil
	case "gcm":
		// A fresh 96-bit IV per call, worker id and counter, as an application does to never
		// repeat an IV under one key.
		plain := make([]byte, 1024)
		iv := make([]byte, 12)
		binary.BigEndian.PutUint32(iv, uint32(worker))
		var count uint64
		return func(context.Context) error {
			count++
			binary.BigEndian.PutUint64(iv[4:], count)
			gp := pkcs11.NewGCMParams(iv, nil, 128)
			defer gp.Free()
			if err := m.ctx.EncryptInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, gp)}, key); err != nil {
				return err
			}
			_, err := m.ctx.Encrypt(s, plain)
			return err
		}, nil
	case "keygen":
		mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
		t := aesTemplate()
		return func(context.Context) error {
			h, err := m.ctx.GenerateKey(s, mech, t)
			if err == nil {
				made.add(h)
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("unknown PKCS#11 operation %q (one of %v)", op, PKCS11Operations)
}

// Close destroys the keys the module made, ends the login and finalizes the module (a Go
// c-shared library cannot be unloaded, so the module stays loaded).
func (m *Module) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.keys {
		_ = m.ctx.DestroyObject(m.anchor, h)
	}
	m.keys = map[string]pkcs11.ObjectHandle{}
	_ = m.ctx.CloseSession(m.anchor)
	return m.ctx.Finalize()
}

// handles collects the objects a keygen run makes, from every worker.
type handles struct {
	mu sync.Mutex
	hs []pkcs11.ObjectHandle
}

func (h *handles) add(o pkcs11.ObjectHandle) {
	h.mu.Lock()
	h.hs = append(h.hs, o)
	h.mu.Unlock()
}

func (h *handles) take() []pkcs11.ObjectHandle {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.hs
	h.hs = nil
	return out
}
