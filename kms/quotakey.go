package kms

import "github.com/hsmsim/hsmsim/kms/awsapi"

// QuotaKey tells the request quotas (package kms/quota, the capacity profile) what a request's
// key is: its spec and, in a custom key store, the store's id; ok is false when ref names no
// key of the caller's account and Region.
func (s *Server) QuotaKey(c *awsapi.Caller, ref string) (spec, store string, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.find(&caller{Caller: c}, ref)
	if err != nil {
		return "", "", false
	}
	return k.Spec, k.StoreID, true
}
