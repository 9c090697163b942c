// Package pkcs11shim is hsmsim's PKCS#11 module: the C ABI of PKCS#11 in Go, built with
//
//	go build -buildmode=c-shared -o build/libhsmsim-pkcs11.so ./cmd/libhsmsim-pkcs11
//
// into libhsmsim-pkcs11.so, which pkcs11-tool, p11tool, OpenSSL, crypto11 and miekg/pkcs11 load.
// It plays the part of CloudHSM's client library: one slot whose token is a whole cluster,
// reached through hsmd/client (one client, failover between nodes built in).
//
// # Layout
//
// The C is table.c (the v2.40 CK_FUNCTION_LIST, the v3.0 list and the CK_INTERFACE entries
// "PKCS 11" 3.0 and 2.40) and pkcs11v3.h (the v3.0 types p11-kit's v2.40 header lacks). Every
// other type comes from <p11-kit/pkcs11.h> through `#cgo pkg-config: p11-kit-1`. The exports_*.go
// files hold the //export C_* functions: each converts its C arguments (convert.go) and calls
// the Go core (module.go, session.go, login.go) inside call.go's frame, which recovers panics
// (CKR_GENERAL_ERROR) and turns errors into a CK_RV in one place, p11.Code. Every function
// checks, in this order: initialized (and same process), session handle or slot, arguments;
// then it works or answers CKR_FUNCTION_NOT_SUPPORTED.
//
// # Configuration
//
// C_Initialize reads the client config file named by $HSMSIM_PKCS11_CONFIG, else $HSMSIM_CONFIG,
// else $XDG_CONFIG_HOME/hsmsim/client.json or ~/.config/hsmsim/client.json (see Config). A
// missing or bad file fails C_Initialize with CKR_GENERAL_ERROR and a log line on stderr.
//
// The module is quiet by default: it logs warnings (a node that did not answer, a failover) and
// errors only, to stderr. The file's "log_level" and "log_file" change that for every program;
// $HSMSIM_PKCS11_LOG_LEVEL (debug, info, warn, error) and $HSMSIM_PKCS11_LOG_FILE override them
// for one run.
//
// # Behaviour
//
//   - Sessions: R/O and R/W, at most 1024 per application. The login is the application's: all
//     sessions share it, a second C_Login is CKR_USER_ALREADY_LOGGED_IN, and closing the last
//     session logs out. The PIN is "user:password" (C_LoginUser takes the user apart). Only
//     CKU_USER logs in, as with CloudHSM: admins manage users with the hsmsim CLI, so CKU_SO is
//     CKR_USER_TYPE_INVALID. A session that is not logged in finds and reads the token's public
//     objects (CKA_PRIVATE false) in profile standard, as the spec's public sessions do; private
//     objects are invisible to it and their handles invalid. In profile cloudhsm nothing is
//     visible before a login, as with the CloudHSM library.
//   - Session objects (CKA_TOKEN false) live on one node, the same for all of the application's
//     session objects (so a session KEK can wrap a session key), and are destroyed with
//     the session that made them (C_CloseSession), at logout, and at C_Finalize.
//   - Operations: the module keeps the state of C_*Init; the node is asked once per operation
//     (C_Encrypt, C_Sign, ... or C_*Final). C_*Update buffers in the module up to max_buffer bytes
//     (default 64 KiB), past which the operation ends with CKR_DATA_LEN_RANGE
//     (CKR_ENCRYPTED_DATA_LEN_RANGE for decryption); C_EncryptUpdate and C_DecryptUpdate output
//     nothing and C_*Final everything. A length query (NULL output) or CKR_BUFFER_TOO_SMALL keeps
//     the operation and the computed result, so the call that follows costs no second RPC.
//     C_*Init answers the mechanism's and the key's errors (keyuse.go; the order is in
//     docs/PKCS11.md); the data's are the call's that does the work.
//   - C_GetTokenInfo asks the node: flags, the application's session counts, and memory counted
//     in objects (the cluster's object limit, free = limit − objects), one pool for public and
//     private. C_GetMechanismList/Info come straight from the node.
//   - Errors from the cluster are spec codes: an unreachable cluster is CKR_DEVICE_ERROR after
//     about attempt_timeout × (nodes + 2); a session object whose node is gone is
//     CKR_DEVICE_REMOVED. No call waits longer than that bound.
//   - Not offered (CKR_FUNCTION_NOT_SUPPORTED after the checks): C_InitToken, C_InitPIN,
//     C_GetOperationState, C_SetOperationState, C_SignRecover*, C_VerifyRecover*, the
//     dual-function calls, and the v3.0 message-based functions. C_GetFunctionStatus and
//     C_CancelFunction answer CKR_FUNCTION_NOT_PARALLEL, as the spec fixes. C_SeedRandom is
//     CKR_RANDOM_SEED_NOT_SUPPORTED. C_WaitForSlotEvent has no event to report (the token never
//     leaves): CKR_NO_EVENT with CKF_DONT_BLOCK, else it waits until C_Finalize.
//   - C_Initialize: non-NULL pReserved is CKR_ARGUMENTS_BAD; mutex callbacks without
//     CKF_OS_LOCKING_OK are CKR_CANT_LOCK (the module locks with Go's primitives, never the
//     application's, so no callback is ever called); CKF_LIBRARY_CANT_CREATE_OS_THREADS is
//     accepted (p11-kit always sets it; the Go runtime's threads are its own). The notify
//     callback of C_OpenSession is never called. The module survives any number of
//     C_Finalize/C_Initialize cycles and re-reads its config at each C_Initialize; it is never
//     unloaded (a Go c-shared library cannot be).
//   - fork: a forked child gets CKR_CRYPTOKI_NOT_INITIALIZED from every entry of the function
//     lists, without entering Go (a pthread_atfork handler in table.c swaps the entries for a
//     stub; the Go runtime's threads do not survive fork, and entering Go there could hang).
//     A child that calls the exported C_* symbols directly is told the same by a pid check. The
//     child should exec, or load the module only after forking.
//
// # Profiles
//
// "standard" follows PKCS#11 to the letter. "cloudhsm" reproduces the CloudHSM client library's
// documented differences, so an application tested here fails here as it would on CloudHSM:
//
//   - no read-only sessions: C_OpenSession without CKF_RW_SESSION is CKR_FUNCTION_FAILED;
//   - AES-GCM encryption ignores the caller's IV: pIV must be a 12-byte buffer, which is zeroed
//     at C_EncryptInit and receives the HSM-generated IV with the ciphertext (C_WrapKey with
//     CKM_AES_GCM likewise writes the IV it used into pIV); standard needs the caller's IV;
//   - CloudHSM's vendor mechanisms (CKM_CLOUDHSM_AES_GCM, the three CKM_CLOUDHSM_AES_KEY_WRAP_*,
//     CKM_SP800_108_COUNTER_KDF) are offered; in standard they are CKR_MECHANISM_INVALID;
//   - AWS's maximum data sizes (HMAC, AES-CBC, AES-GCM: 16,224 to 16,288 bytes) end an operation
//     with CKR_DATA_LEN_RANGE (CKR_ENCRYPTED_DATA_LEN_RANGE when decrypting), and C_*Update of a
//     single-part mechanism (RSA PKCS, PSS, OAEP, ECDSA, AES-GCM) with CKR_MECHANISM_INVALID;
//   - C_CopyObject, C_GetObjectSize, C_SetPIN, C_SeedRandom, C_WaitForSlotEvent and C_DigestKey
//     are CKR_FUNCTION_NOT_SUPPORTED (standard offers them; C_SetPIN changes the logged-in user's
//     own password);
//   - C_SetAttributeValue may change only CKA_LABEL, CKA_TOKEN, CKA_ENCRYPT, CKA_DECRYPT,
//     CKA_SIGN, CKA_VERIFY, CKA_WRAP, CKA_UNWRAP, CKA_SENSITIVE, CKA_DERIVE, CKA_TRUSTED and
//     CKA_WRAP_WITH_TRUSTED; anything else is CKR_ATTRIBUTE_READ_ONLY.
//
// Both profiles offer the v3.0 interface (the profile is read at C_Initialize, after an
// application has chosen its interface).
//
// docs/PKCS11.md tables every function and mechanism per profile, with the source each follows.
package pkcs11shim
