//go:build cgo

package traffic

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// The pkcs11 face: applications' own path to the cluster, libhsmsim-pkcs11.so loaded with
// dlopen (miekg/pkcs11), its sessions, its login (PIN user:password), its failover. The module
// is a Go c-shared library, so loading it here starts a second Go runtime in this process: Go
// does not promise that works, and in practice it does (the module's own tests load it the same
// way). A c-shared library cannot be unloaded, so the module is loaded once per process and
// initialized and finalized once per workload; one pkcs11 workload runs at a time.

var (
	moduleOnce sync.Once
	moduleCtx  *pkcs11.Ctx
	moduleErr  error
	moduleRun  sync.Mutex // one pkcs11 workload (C_Initialize .. C_Finalize) at a time
)

// LoadModule loads the PKCS#11 module once per process: $HSMSIM_PKCS11_MODULE, or built into
// a temporary directory (removed once loaded: the mapping outlives the file).
func LoadModule() (*pkcs11.Ctx, error) {
	moduleOnce.Do(func() {
		path := os.Getenv(EnvModule)
		if path == "" {
			dir, err := os.MkdirTemp("", "hsmsim-scenario-pkcs11-")
			if err != nil {
				moduleErr = err
				return
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "libhsmsim-pkcs11.so")
			out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", path, "github.com/hsmsim/hsmsim/cmd/libhsmsim-pkcs11").CombinedOutput()
			if err != nil {
				moduleErr = fmt.Errorf("building libhsmsim-pkcs11.so (set %s to a built one): %v\n%s", EnvModule, err, out)
				return
			}
		}
		if moduleCtx = pkcs11.New(path); moduleCtx == nil {
			moduleErr = fmt.Errorf("loading the PKCS#11 module %s failed", path)
		}
	})
	return moduleCtx, moduleErr
}

// rvError turns miekg/pkcs11's error into the engine's (p11.Error), so the exact CKR_ name is
// recorded.
func rvError(err error) error {
	var e pkcs11.Error
	if errors.As(err, &e) {
		return p11.Error(uint32(e))
	}
	return err
}

// preparePKCS11 readies a pkcs11 workload: C_Initialize with the scenario cluster's client
// config, one login, the setup keys found by label and one session per worker. Its Load runs
// C_SignInit + C_Sign in a loop in each session until ctx ends; its release closes the
// sessions, logs out and calls C_Finalize.
func preparePKCS11(_ context.Context, w spec.Workload, d Deps) (_ *Load, err error) {
	p, err := LoadModule()
	if err != nil {
		return nil, fmt.Errorf("workload %s: %w", w.Name, err)
	}
	moduleRun.Lock()
	// What is opened is undone in reverse order: at once when preparing fails, else by release.
	var undo []func()
	release := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		moduleRun.Unlock()
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	cfg, err := d.Target.PKCS11Config()
	if err != nil {
		return nil, err
	}
	if err := os.Setenv(client.EnvPKCS11Config, cfg); err != nil {
		return nil, err
	}
	if err := p.Initialize(); err != nil {
		return nil, fmt.Errorf("workload %s: C_Initialize: %w", w.Name, err)
	}
	undo = append(undo, func() { _ = p.Finalize() })
	slots, err := p.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		return nil, fmt.Errorf("workload %s: C_GetSlotList: %d slots, %v", w.Name, len(slots), err)
	}
	login, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return nil, fmt.Errorf("workload %s: C_OpenSession: %w", w.Name, err)
	}
	undo = append(undo, func() { _ = p.CloseSession(login) })
	d.Reg.Lock()
	pw := d.Reg.Users[w.User]
	d.Reg.Unlock()
	if err := p.Login(login, pkcs11.CKU_USER, w.User+":"+pw); err != nil {
		return nil, fmt.Errorf("workload %s: C_Login as %s: %w", w.Name, w.User, err)
	}
	undo = append(undo, func() { _ = p.Logout(login) })
	var keys []pkcs11.ObjectHandle
	for _, name := range w.Keys {
		h, err := findKey(p, login, name)
		if err != nil {
			return nil, fmt.Errorf("workload %s: key %s: %w", w.Name, name, err)
		}
		keys = append(keys, h)
	}
	var sessions []pkcs11.SessionHandle
	for range w.Concurrency {
		sess, err := p.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			return nil, fmt.Errorf("workload %s: C_OpenSession: %w", w.Name, err)
		}
		undo = append(undo, func() { _ = p.CloseSession(sess) })
		sessions = append(sessions, sess)
	}
	return &Load{w: w, release: release, workers: func(ctx context.Context, tokens <-chan struct{}) {
		var wg sync.WaitGroup
		for i, sess := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wk := &worker{w: w, d: d, id: i}
				for n := 0; ; n++ {
					if tokens != nil {
						select {
						case <-ctx.Done():
							return
						case <-tokens:
						}
					} else if ctx.Err() != nil {
						return
					}
					start := time.Now()
					err := signOnce(p, sess, keys[n%len(keys)])
					wk.record(history.Op{Kind: "sign"}, start, err)
				}
			}()
		}
		wg.Wait()
	}}, nil
}

// findKey finds the private key labelled name (the setup names keys by CKA_LABEL).
func findKey(p *pkcs11.Ctx, s pkcs11.SessionHandle, name string) (pkcs11.ObjectHandle, error) {
	if err := p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, name),
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}); err != nil {
		return 0, err
	}
	defer p.FindObjectsFinal(s)
	hs, _, err := p.FindObjects(s, 2)
	if err != nil {
		return 0, err
	}
	if len(hs) != 1 {
		return 0, fmt.Errorf("%d private keys labelled %q", len(hs), name)
	}
	return hs[0], nil
}

// signOnce is one ECDSA signature of a random digest: C_SignInit, C_Sign (one RPC to a node).
func signOnce(p *pkcs11.Ctx, s pkcs11.SessionHandle, key pkcs11.ObjectHandle) error {
	if err := p.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, key); err != nil {
		return rvError(err)
	}
	_, err := p.Sign(s, randomBytes(32))
	return rvError(err)
}
