package attr

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// A data object's CKA_APPLICATION, CKA_OBJECT_ID and CKA_VALUE carry no footnote 8 in the
// v2.40 base spec's data object table (§4.5), and C_CopyObject's template "may specify new
// values for any attributes of the object that can ordinarily be modified" (§5.7): a copy that
// asks for another value is CKR_ATTRIBUTE_READ_ONLY, as C_SetAttributeValue is. (PKCS #11
// v2.01 said "both of these attributes may be modified after the object is created"; v2.20
// dropped the sentence. google/pkcs11test's CreateCopyDestroyObject follows v2.01.) The
// storage attributes a copy may change still change.
func TestDataObjectCopy(t *testing.T) {
	src := mustNew(t, OpCreate, with(dataCreate(), at(p11.CKA_VALUE, []byte{0xDE, 0xAD})), nil, nil, 0)
	for _, a := range []uint32{p11.CKA_VALUE, p11.CKA_APPLICATION, p11.CKA_OBJECT_ID} {
		_, err := Copy(src, []Attribute{at(a, []byte{0xFA, 0xCE})})
		wantCode(t, err, p11.CKR_ATTRIBUTE_READ_ONLY)
	}
	cp, err := Copy(src, []Attribute{ab(p11.CKA_TOKEN, true), at(p11.CKA_LABEL, []byte("copy"))})
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := cp.Bool(p11.CKA_TOKEN); !tok || string(cp[p11.CKA_LABEL]) != "copy" || string(cp[p11.CKA_VALUE]) != "\xDE\xAD" {
		t.Fatalf("copy: %v", cp)
	}
}
