package token

import (
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// CKA_TRUSTED belongs to the admin (CloudHSM's crypto officer, the spec's SO): a key marked
// trusted is one an admin vouched for, which is what lets CKA_WRAP_WITH_TRUSTED keep a key from
// being wrapped under any key its owner likes. AWS: "This attribute can be set to True or False by
// Crypto Officer (CO) only" (docs.aws.amazon.com/cloudhsm/latest/userguide/modify-attr.html).

// CheckTrusted refuses a crypto user's template that sets CKA_TRUSTED true, at creation, copy or
// modification, with the code the spec gives an attribute only the SO may set. Saying false is
// no escalation and is allowed.
func CheckTrusted(role Role, tmpl []attr.Attribute) error {
	if role == RoleAdmin {
		return nil
	}
	for _, a := range tmpl {
		if a.Type == p11.CKA_TRUSTED && !(len(a.Value) == 1 && a.Value[0] == 0) {
			return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "only an admin may set CKA_TRUSTED true")
		}
	}
	return nil
}

// OnlyTrusted says whether a template changes CKA_TRUSTED and nothing else: the one change an
// admin may make to a key, which it never sees the material of.
func OnlyTrusted(tmpl []attr.Attribute) bool {
	for _, a := range tmpl {
		if a.Type != p11.CKA_TRUSTED {
			return false
		}
	}
	return len(tmpl) > 0
}
