package kms

// FailCustomKeyStore leaves a custom key store FAILED with the ConnectionErrorCode code, its
// connection to the cluster dropped, as KMS does when the store's cluster is lost; the
// function returned undoes it (kms/awsapi/fault's fail-keystore rule, a live fault).
func (s *Server) FailCustomKeyStore(id, code string) (undo func(), err error) {
	return s.hsm.Fail(id, code)
}
