package moduletest

import (
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"
)

// C_Initialize's argument rules, C_Finalize's, and what every call says before C_Initialize.
func TestInitializeRules(t *testing.T) {
	newCluster(t, standard)
	if ma, mi := ListVersion(); ma != 2 || mi != 40 {
		t.Fatalf("C_GetFunctionList's list is version %d.%d, want 2.40", ma, mi)
	}
	rv, _, _ := GetInfo()
	wantCode(t, "C_GetInfo before C_Initialize", rv, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
	rv, _ = SlotCount()
	wantCode(t, "C_GetSlotList before C_Initialize", rv, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
	wantCode(t, "C_Finalize before C_Initialize", Finalize(false), pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)

	refused := []struct {
		name string
		args InitArgs
		want uint
	}{
		{"non-NULL pReserved", InitArgs{Reserved: true, Flags: pkcs11.CKF_OS_LOCKING_OK}, pkcs11.CKR_ARGUMENTS_BAD},
		{"mutex callbacks without CKF_OS_LOCKING_OK", InitArgs{Mutexes: 1}, pkcs11.CKR_CANT_LOCK},
		{"three of four mutex callbacks", InitArgs{Mutexes: 2, Flags: pkcs11.CKF_OS_LOCKING_OK}, pkcs11.CKR_ARGUMENTS_BAD},
	}
	for _, c := range refused {
		wantCode(t, c.name, Initialize(c.args), c.want)
		rv, _ := SlotCount()
		wantCode(t, "after a refused C_Initialize ("+c.name+")", rv, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
	}

	accepted := []struct {
		name string
		args InitArgs
	}{
		{"NULL arguments", InitArgs{Null: true}},
		{"no callbacks, no flags", InitArgs{}},
		{"OS locking", InitArgs{Flags: pkcs11.CKF_OS_LOCKING_OK}},
		// p11-kit (GnuTLS's p11tool) sets this flag always; the Go runtime's own threads are
		// not the application's, so the module accepts it.
		{"CKF_LIBRARY_CANT_CREATE_OS_THREADS as p11-kit sends it", InitArgs{Flags: pkcs11.CKF_LIBRARY_CANT_CREATE_OS_THREADS | pkcs11.CKF_OS_LOCKING_OK}},
		{"mutex callbacks with CKF_OS_LOCKING_OK", InitArgs{Mutexes: 1, Flags: pkcs11.CKF_OS_LOCKING_OK}},
	}
	for _, c := range accepted {
		wantCode(t, c.name, Initialize(c.args), pkcs11.CKR_OK)
		wantCode(t, "second C_Initialize", Initialize(InitArgs{Null: true}), pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv, v, mi := GetInfo()
		wantCode(t, "C_GetInfo", rv, pkcs11.CKR_OK)
		if v != 2 || mi != 40 {
			t.Fatalf("cryptokiVersion %d.%d", v, mi)
		}
		wantCode(t, "C_Finalize with pReserved", Finalize(true), pkcs11.CKR_ARGUMENTS_BAD)
		wantCode(t, "C_Finalize", Finalize(false), pkcs11.CKR_OK)
		wantCode(t, "second C_Finalize", Finalize(false), pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
	}
}

// A missing or broken config fails C_Initialize with a clear log line, and the module stays
// usable once the config is fixed.
func TestInitializeConfig(t *testing.T) {
	c := newCluster(t, standard)
	t.Setenv("HSMSIM_PKCS11_CONFIG", filepath.Join(t.TempDir(), "missing.json"))
	wantCode(t, "missing config", Initialize(InitArgs{Null: true}), pkcs11.CKR_GENERAL_ERROR)
	t.Setenv("HSMSIM_PKCS11_CONFIG", c.cfgPath)
	c.cfg.Profile = "fips"
	c.writeConfig(t)
	wantCode(t, "bad profile", Initialize(InitArgs{Null: true}), pkcs11.CKR_GENERAL_ERROR)
	c.cfg.Profile = ""
	c.writeConfig(t)
	// Neither variable of the module: the shared one is used.
	t.Setenv("HSMSIM_PKCS11_CONFIG", "")
	t.Setenv("HSMSIM_CONFIG", c.cfgPath)
	wantCode(t, "fixed config", Initialize(InitArgs{Null: true}), pkcs11.CKR_OK)
	wantCode(t, "C_Finalize", Finalize(false), pkcs11.CKR_OK)
}

// The application may finalize and initialize again, any number of times: sessions and login
// do not survive, the module does.
func TestFinalizeInitializeCycles(t *testing.T) {
	newCluster(t, standard)
	var old pkcs11.SessionHandle
	for i := range 5 {
		must(t, p.Initialize())
		if i > 0 {
			_, err := p.GetSessionInfo(old)
			wantRV(t, "a session of the previous cycle", err, pkcs11.CKR_SESSION_HANDLE_INVALID)
		}
		s := session(t)
		info, err := p.GetSessionInfo(s)
		must(t, err)
		if info.State != pkcs11.CKS_RW_USER_FUNCTIONS {
			t.Fatalf("cycle %d: state %d", i, info.State)
		}
		pub, priv := ecKeyPair(t, s, false)
		sig := sign(t, s, pkcs11.CKM_ECDSA, priv, digest("cycle"))
		must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), pub))
		must(t, p.Verify(s, digest("cycle"), sig))
		must(t, p.Finalize())
		_, err = p.GetSessionInfo(s)
		wantRV(t, "after C_Finalize", err, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)
		old = s
	}
}

// PKCS#11 v3.0 interfaces: "PKCS 11" in 3.0 (the default) and 2.40.
func TestInterfaces(t *testing.T) {
	start(t, standard)
	rv, list := InterfaceList()
	wantCode(t, "C_GetInterfaceList", rv, pkcs11.CKR_OK)
	if len(list) != 2 || list[0] != (Interface{"PKCS 11", 3, 0, 0}) || list[1] != (Interface{"PKCS 11", 2, 40, 0}) {
		t.Fatalf("interfaces %+v", list)
	}
	rv, n := InterfaceListShort()
	if rv != pkcs11.CKR_BUFFER_TOO_SMALL || n != 2 {
		t.Fatalf("short list: %v, %d", pkcs11.Error(rv), n)
	}
	for _, c := range []struct {
		name         string
		major, minor int
		flags        uint64
		want         uint
		wantMajor    int
	}{
		{"", -1, 0, 0, pkcs11.CKR_OK, 3},
		{"PKCS 11", -1, 0, 0, pkcs11.CKR_OK, 3},
		{"PKCS 11", 2, 40, 0, pkcs11.CKR_OK, 2},
		{"PKCS 11", 3, 0, 0, pkcs11.CKR_OK, 3},
		{"PKCS 11", 3, 1, 0, pkcs11.CKR_ARGUMENTS_BAD, 0},
		{"Vendor", -1, 0, 0, pkcs11.CKR_ARGUMENTS_BAD, 0},
		{"PKCS 11", -1, 0, 1 /* CKF_INTERFACE_FORK_SAFE */, pkcs11.CKR_ARGUMENTS_BAD, 0},
	} {
		rv, ma, _ := GetInterface(c.name, c.major, c.minor, c.flags)
		wantCode(t, "C_GetInterface "+c.name, rv, c.want)
		if rv == pkcs11.CKR_OK && ma != c.wantMajor {
			t.Fatalf("C_GetInterface(%q, %d.%d): version %d", c.name, c.major, c.minor, ma)
		}
	}
	// C_LoginUser, reached through the 3.0 function list, takes the user name apart.
	s := open(t, true)
	wantCode(t, "C_LoginUser wrong password", LoginUser(uint(s), "alice", "wrongpass1"), pkcs11.CKR_PIN_INCORRECT)
	wantCode(t, "C_LoginUser", LoginUser(uint(s), "alice", "alicepass1"), pkcs11.CKR_OK)
	info, err := p.GetSessionInfo(s)
	must(t, err)
	if info.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		t.Fatalf("state %d after C_LoginUser", info.State)
	}
}

// A child forked after C_Initialize is told CKR_CRYPTOKI_NOT_INITIALIZED (the Go runtime does
// not survive fork; the child must not use the parent's connections).
func TestForkedChild(t *testing.T) {
	start(t, standard)
	if st := ForkChild(); st != 0 {
		t.Fatalf("child status %d, want 0 (it was told CKR_CRYPTOKI_NOT_INITIALIZED)", st)
	}
}
