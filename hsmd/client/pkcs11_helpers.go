package client

// IsSessionHandle reports whether h names a session object (CKA_TOKEN false): such objects live
// on the one node that created them, and the PKCS#11 module destroys them with their session.
func IsSessionHandle(h uint32) bool { return h&sessionHandleBit != 0 }
