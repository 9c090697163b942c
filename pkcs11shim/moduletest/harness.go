// Package moduletest tests libhsmsim-pkcs11.so as applications use it: the tests build the
// module, load it with dlopen (miekg/pkcs11, crypto11, and the raw C calls in this file for what
// those wrappers hide), and drive it against real nodes started with hsmd/nodetest. The package
// has no other use; this file is ordinary Go only because _test.go files cannot use cgo.
package moduletest

/*
#cgo pkg-config: p11-kit-1
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR fl;
static void *lib;

static const char *h_load(const char *path) {
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	lib = dlopen(path, RTLD_NOW);
	if (!lib) return dlerror();
	get = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib, "C_GetFunctionList");
	if (!get) return "no C_GetFunctionList";
	if (get(&fl) != CKR_OK) return "C_GetFunctionList failed";
	return NULL;
}

static CK_RV fake_create(CK_VOID_PTR_PTR m) { return CKR_OK; }
static CK_RV fake_mutex(CK_VOID_PTR m) { return CKR_OK; }

static CK_RV h_initialize(int null_args, CK_FLAGS flags, int mutexes, int reserved) {
	CK_C_INITIALIZE_ARGS a;
	memset(&a, 0, sizeof a);
	if (null_args) return fl->C_Initialize(NULL);
	a.flags = flags;
	if (mutexes) {
		a.CreateMutex = fake_create;
		a.DestroyMutex = fake_mutex;
		a.LockMutex = fake_mutex;
		a.UnlockMutex = mutexes == 2 ? NULL : fake_mutex;
	}
	if (reserved) a.pReserved = &a;
	return fl->C_Initialize(&a);
}

static CK_RV h_finalize(int reserved) { return fl->C_Finalize(reserved ? (void *)fl : NULL); }
static CK_RV h_get_info(CK_INFO *info) { return fl->C_GetInfo(info); }
static CK_RV h_slots(CK_SLOT_ID *list, CK_ULONG *n) { return fl->C_GetSlotList(CK_TRUE, list, n); }
static CK_VERSION h_version(void) { return fl->version; }

static CK_RV h_get_attrs(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *t, CK_ULONG n) {
	return fl->C_GetAttributeValue(s, o, t, n);
}

static CK_RV h_sign(CK_SESSION_HANDLE s, CK_BYTE *d, CK_ULONG dl, CK_BYTE *sig, CK_ULONG *sl) {
	return fl->C_Sign(s, d, dl, sig, sl);
}

static CK_RV h_digest(CK_SESSION_HANDLE s, CK_BYTE *d, CK_ULONG dl, CK_BYTE *o, CK_ULONG *ol) {
	return fl->C_Digest(s, d, dl, o, ol);
}

static CK_RV h_digest_final(CK_SESSION_HANDLE s, CK_BYTE *o, CK_ULONG *ol) {
	return fl->C_DigestFinal(s, o, ol);
}

static CK_RV h_encrypt(CK_SESSION_HANDLE s, CK_BYTE *d, CK_ULONG dl, CK_BYTE *o, CK_ULONG *ol) {
	return fl->C_Encrypt(s, d, dl, o, ol);
}

static CK_RV h_encrypt_update(CK_SESSION_HANDLE s, CK_BYTE *d, CK_ULONG dl, CK_BYTE *o, CK_ULONG *ol) {
	return fl->C_EncryptUpdate(s, d, dl, o, ol);
}

static CK_RV h_null_session_calls(CK_SESSION_HANDLE s) {
	CK_ULONG n;
	return fl->C_FindObjects(s, NULL, 1, &n);
}

static CK_RV h_wait(CK_FLAGS flags) {
	CK_SLOT_ID slot;
	return fl->C_WaitForSlotEvent(flags, &slot, NULL);
}

// The v3.0 interface, looked up by name through dlsym (the v2.40 list does not have it).
typedef struct { CK_CHAR *name; void *list; CK_FLAGS flags; } iface;

static CK_RV h_interface_list(iface *out, CK_ULONG *n) {
	CK_RV (*f)(iface *, CK_ULONG *) = (CK_RV (*)(iface *, CK_ULONG *))dlsym(lib, "C_GetInterfaceList");
	if (!f) return CKR_FUNCTION_NOT_SUPPORTED;
	return f(out, n);
}

static CK_RV h_interface(const char *name, CK_VERSION *v, CK_FLAGS flags, CK_VERSION *got) {
	iface *p = NULL;
	CK_RV (*f)(CK_UTF8CHAR *, CK_VERSION *, iface **, CK_FLAGS) =
		(CK_RV (*)(CK_UTF8CHAR *, CK_VERSION *, iface **, CK_FLAGS))dlsym(lib, "C_GetInterface");
	if (!f) return CKR_FUNCTION_NOT_SUPPORTED;
	CK_RV rv = f((CK_UTF8CHAR *)name, v, &p, flags);
	if (rv == CKR_OK) *got = *(CK_VERSION *)p->list;
	return rv;
}

// The v3.0 list's entries past the v2.40 ones: index 0 is C_GetInterfaceList.
static void *h_v3_entry(void *list, int i) {
	return ((void **)((CK_FUNCTION_LIST *)list + 1))[i];
}

static CK_RV h_login_user(CK_SESSION_HANDLE s, const char *user, const char *pw) {
	iface *p = NULL;
	CK_VERSION v = {3, 0};
	CK_RV (*gi)(CK_UTF8CHAR *, CK_VERSION *, iface **, CK_FLAGS) =
		(CK_RV (*)(CK_UTF8CHAR *, CK_VERSION *, iface **, CK_FLAGS))dlsym(lib, "C_GetInterface");
	CK_RV rv = gi(NULL, &v, &p, 0);
	if (rv != CKR_OK) return rv;
	CK_RV (*lu)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *, CK_ULONG) =
		(CK_RV (*)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *, CK_ULONG))h_v3_entry(p->list, 2);
	return lu(s, CKU_USER, (CK_UTF8CHAR *)pw, strlen(pw), (CK_UTF8CHAR *)user, strlen(user));
}

// h_fork_child forks; the child asks for the slot list and exits with 0 when it was told
// CKR_CRYPTOKI_NOT_INITIALIZED. The parent returns the child's exit status (or -1).
static int h_fork_child(void) {
	pid_t pid = fork();
	if (pid < 0) return -1;
	if (pid == 0) {
		CK_ULONG n = 0;
		CK_RV rv = fl->C_GetSlotList(CK_TRUE, NULL, &n);
		_exit(rv == CKR_CRYPTOKI_NOT_INITIALIZED ? 0 : 10);
	}
	int st = 0;
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -2;
		usleep(50000);
	}
	kill(pid, 9);
	waitpid(pid, &st, 0);
	return -3;
}
// CloudHSM's CKM_SP800_108_COUNTER_KDF parameter, laid out as its vendor header lays it out:
// a PRF and an array of typed data parameters (counter format, DKM format, label, context).
typedef struct { CK_ULONG width_bits; } h_counter_format;
typedef struct { CK_ULONG method; CK_ULONG width_bits; } h_dkm_format;
typedef struct { CK_ULONG type; CK_VOID_PTR value; CK_ULONG len; } h_prf_data;
typedef struct { CK_MECHANISM_TYPE prf; CK_ULONG count; h_prf_data *data; } h_sp800108_params;

static CK_RV h_derive_sp800108(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE base, CK_MECHANISM_TYPE prf,
		CK_ULONG ctr_bits, CK_ULONG dkm_method, CK_ULONG dkm_bits, CK_BYTE *label, CK_ULONG label_len,
		CK_BYTE *context, CK_ULONG context_len, CK_ULONG value_len, CK_OBJECT_HANDLE *out) {
	h_counter_format ctr = { ctr_bits };
	h_dkm_format dkm = { dkm_method, dkm_bits };
	h_prf_data data[4] = {
		{ 4, &ctr, sizeof ctr },
		{ 7, &dkm, sizeof dkm },
		{ 5, label, label_len },
		{ 6, context, context_len },
	};
	h_sp800108_params params = { prf, 4, data };
	CK_MECHANISM m = { 0x80000001UL, &params, sizeof params };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &cls, sizeof cls }, { CKA_KEY_TYPE, &kt, sizeof kt },
		{ CKA_VALUE_LEN, &value_len, sizeof value_len }, { CKA_TOKEN, &no, sizeof no },
		{ CKA_SENSITIVE, &no, sizeof no }, { CKA_EXTRACTABLE, &yes, sizeof yes },
	};
	return fl->C_DeriveKey(s, &m, base, t, sizeof t / sizeof t[0], out);
}
*/
import "C"

import (
	"errors"
	"unsafe"
)

// Load dlopens the module (a second dlopen of a loaded library shares it) and keeps its
// function list for the raw calls below.
func Load(path string) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if e := C.h_load(cp); e != nil {
		return errors.New(C.GoString(e))
	}
	return nil
}

// ListVersion is the version of the list C_GetFunctionList returns.
func ListVersion() (major, minor int) {
	v := C.h_version()
	return int(v.major), int(v.minor)
}

// InitArgs describe a C_Initialize call.
type InitArgs struct {
	Null     bool   // pass NULL instead of CK_C_INITIALIZE_ARGS
	Flags    uint64 // CKF_OS_LOCKING_OK, CKF_LIBRARY_CANT_CREATE_OS_THREADS
	Mutexes  int    // 0: none, 1: all four callbacks, 2: three of four
	Reserved bool   // a non-NULL pReserved
}

// Initialize calls C_Initialize with a.
func Initialize(a InitArgs) uint {
	null, mut, res := 0, C.int(a.Mutexes), 0
	if a.Null {
		null = 1
	}
	if a.Reserved {
		res = 1
	}
	return uint(C.h_initialize(C.int(null), C.CK_FLAGS(a.Flags), mut, C.int(res)))
}

// Finalize calls C_Finalize, with a non-NULL pReserved if asked.
func Finalize(reserved bool) uint {
	r := 0
	if reserved {
		r = 1
	}
	return uint(C.h_finalize(C.int(r)))
}

// GetInfo calls C_GetInfo and returns the cryptoki version.
func GetInfo() (rv uint, major, minor int) {
	var info C.CK_INFO
	rv = uint(C.h_get_info(&info))
	return rv, int(info.cryptokiVersion.major), int(info.cryptokiVersion.minor)
}

// SlotCount calls C_GetSlotList(NULL) for the count.
func SlotCount() (uint, int) {
	var n C.CK_ULONG
	rv := C.h_slots(nil, &n)
	return uint(rv), int(n)
}

// Attr is one entry of a raw C_GetAttributeValue template: Len < 0 passes pValue NULL (a length
// query); otherwise a buffer of Len bytes. After the call, Len is ulValueLen as the module set
// it (-1 for CK_UNAVAILABLE_INFORMATION) and Value what it wrote.
type Attr struct {
	Type  uint
	Len   int
	Value []byte
}

// GetAttributes calls C_GetAttributeValue with raw buffers.
func GetAttributes(session, object uint, attrs []Attr) uint {
	t := (*[1 << 16]C.CK_ATTRIBUTE)(C.malloc(C.size_t(len(attrs)) * C.sizeof_CK_ATTRIBUTE))[:len(attrs):len(attrs)]
	defer C.free(unsafe.Pointer(&t[0]))
	for i, a := range attrs {
		t[i]._type = C.CK_ATTRIBUTE_TYPE(a.Type)
		t[i].pValue = nil
		t[i].ulValueLen = 0
		if a.Len >= 0 {
			t[i].pValue = C.malloc(C.size_t(a.Len + 1))
			t[i].ulValueLen = C.CK_ULONG(a.Len)
		}
	}
	rv := C.h_get_attrs(C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(object), &t[0], C.CK_ULONG(len(attrs)))
	for i := range attrs {
		n := t[i].ulValueLen
		if n == C.CK_ULONG(^uint64(0)) {
			attrs[i].Len = -1
		} else {
			attrs[i].Len = int(n)
		}
		if t[i].pValue != nil {
			if attrs[i].Len >= 0 {
				attrs[i].Value = C.GoBytes(t[i].pValue, C.int(n))
			}
			C.free(t[i].pValue)
		}
	}
	return uint(rv)
}

// Sign calls C_Sign with an output buffer of room bytes (room < 0: NULL, a length query). It
// returns the CK_RV, *pulSignatureLen and what was written.
func Sign(session uint, data []byte, room int) (uint, int, []byte) {
	d := C.CBytes(data)
	defer C.free(d)
	return outCall(room, func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV {
		return C.h_sign(C.CK_SESSION_HANDLE(session), (*C.CK_BYTE)(d), C.CK_ULONG(len(data)), out, l)
	})
}

// outCall runs a C call that writes up to *l bytes at out, with an output buffer of room bytes
// (room < 0: NULL, a length query); it returns the CK_RV, *l and what was written.
func outCall(room int, call func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV) (uint, int, []byte) {
	var out unsafe.Pointer
	l := C.CK_ULONG(0)
	if room >= 0 {
		out = C.malloc(C.size_t(room + 1))
		defer C.free(out)
		l = C.CK_ULONG(room)
	}
	rv := call((*C.CK_BYTE)(out), &l)
	var b []byte
	if out != nil && rv == C.CKR_OK {
		b = C.GoBytes(out, C.int(l))
	}
	return uint(rv), int(l), b
}

// Digest calls C_Digest with an output buffer of room bytes (room < 0: NULL, a length query).
func Digest(session uint, data []byte, room int) (uint, int, []byte) {
	d := C.CBytes(data)
	defer C.free(d)
	return outCall(room, func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV {
		return C.h_digest(C.CK_SESSION_HANDLE(session), (*C.CK_BYTE)(d), C.CK_ULONG(len(data)), out, l)
	})
}

// DigestFinal calls C_DigestFinal with an output buffer of room bytes (room < 0: NULL).
func DigestFinal(session uint, room int) (uint, int, []byte) {
	return outCall(room, func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV {
		return C.h_digest_final(C.CK_SESSION_HANDLE(session), out, l)
	})
}

// Encrypt calls C_Encrypt with an output buffer of room bytes (room < 0: NULL, a length query).
func Encrypt(session uint, data []byte, room int) (uint, int, []byte) {
	d := C.CBytes(data)
	defer C.free(d)
	return outCall(room, func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV {
		return C.h_encrypt(C.CK_SESSION_HANDLE(session), (*C.CK_BYTE)(d), C.CK_ULONG(len(data)), out, l)
	})
}

// EncryptUpdate calls C_EncryptUpdate with an output buffer of room bytes (room < 0: NULL).
func EncryptUpdate(session uint, data []byte, room int) (uint, int) {
	d := C.CBytes(data)
	defer C.free(d)
	rv, n, _ := outCall(room, func(out *C.CK_BYTE, l *C.CK_ULONG) C.CK_RV {
		return C.h_encrypt_update(C.CK_SESSION_HANDLE(session), (*C.CK_BYTE)(d), C.CK_ULONG(len(data)), out, l)
	})
	return rv, n
}

// FindObjectsNullOut calls C_FindObjects with a NULL handle array.
func FindObjectsNullOut(session uint) uint {
	return uint(C.h_null_session_calls(C.CK_SESSION_HANDLE(session)))
}

// Interface is one entry of C_GetInterfaceList.
type Interface struct {
	Name         string
	Major, Minor int
	Flags        uint64
}

// InterfaceList calls C_GetInterfaceList: the count query, then the list.
func InterfaceList() (uint, []Interface) {
	var n C.CK_ULONG
	if rv := C.h_interface_list(nil, &n); rv != C.CKR_OK {
		return uint(rv), nil
	}
	buf := make([]C.iface, n)
	if rv := C.h_interface_list(&buf[0], &n); rv != C.CKR_OK {
		return uint(rv), nil
	}
	out := make([]Interface, n)
	for i, f := range buf[:n] {
		v := (*C.CK_VERSION)(f.list)
		out[i] = Interface{Name: C.GoString((*C.char)(unsafe.Pointer(f.name))), Major: int(v.major), Minor: int(v.minor), Flags: uint64(f.flags)}
	}
	return C.CKR_OK, out
}

// InterfaceListShort calls C_GetInterfaceList with room for one entry.
func InterfaceListShort() (uint, int) {
	var buf [1]C.iface
	n := C.CK_ULONG(1)
	rv := C.h_interface_list(&buf[0], &n)
	return uint(rv), int(n)
}

// GetInterface calls C_GetInterface; name "" passes NULL, major < 0 passes no version.
func GetInterface(name string, major, minor int, flags uint64) (rv uint, gotMajor, gotMinor int) {
	var cn *C.char
	if name != "" {
		cn = C.CString(name)
		defer C.free(unsafe.Pointer(cn))
	}
	var v *C.CK_VERSION
	if major >= 0 {
		v = &C.CK_VERSION{major: C.CK_BYTE(major), minor: C.CK_BYTE(minor)}
	}
	var got C.CK_VERSION
	r := C.h_interface(cn, v, C.CK_FLAGS(flags), &got)
	return uint(r), int(got.major), int(got.minor)
}

// LoginUser calls the v3.0 C_LoginUser through the 3.0 function list.
func LoginUser(session uint, user, password string) uint {
	cu, cp := C.CString(user), C.CString(password)
	defer C.free(unsafe.Pointer(cu))
	defer C.free(unsafe.Pointer(cp))
	return uint(C.h_login_user(C.CK_SESSION_HANDLE(session), cu, cp))
}

// WaitForSlotEvent calls C_WaitForSlotEvent.
func WaitForSlotEvent(flags uint64) uint { return uint(C.h_wait(C.CK_FLAGS(flags))) }

// ForkChild forks; the child calls C_GetSlotList. 0 means the child was told
// CKR_CRYPTOKI_NOT_INITIALIZED; 10 another code; negative: it crashed or hung.
func ForkChild() int { return int(C.h_fork_child()) }

// KDFParams are the inputs of CloudHSM's CKM_SP800_108_COUNTER_KDF.
type KDFParams struct {
	PRF                             uint
	CounterBits, DKMMethod, DKMBits uint
	Label, Context                  []byte
	ValueLen                        uint
}

// DeriveSP800108 calls C_DeriveKey with CKM_SP800_108_COUNTER_KDF and the CK_SP800_108_KDF_PARAMS
// miekg/pkcs11 cannot build, for a session generic secret that can be read back.
func DeriveSP800108(session, base uint, k KDFParams) (uint, uint) {
	// A byte more than needed, so that an empty label or context is still a valid pointer.
	l, c := C.CBytes(append(append([]byte(nil), k.Label...), 0)), C.CBytes(append(append([]byte(nil), k.Context...), 0))
	defer C.free(l)
	defer C.free(c)
	var out C.CK_OBJECT_HANDLE
	rv := C.h_derive_sp800108(C.CK_SESSION_HANDLE(session), C.CK_OBJECT_HANDLE(base), C.CK_MECHANISM_TYPE(k.PRF),
		C.CK_ULONG(k.CounterBits), C.CK_ULONG(k.DKMMethod), C.CK_ULONG(k.DKMBits),
		(*C.CK_BYTE)(l), C.CK_ULONG(len(k.Label)), (*C.CK_BYTE)(c), C.CK_ULONG(len(k.Context)), C.CK_ULONG(k.ValueLen), &out)
	return uint(rv), uint(out)
}
