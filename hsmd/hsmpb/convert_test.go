package hsmpb

import (
	"reflect"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Every parameter kind survives the trip to the wire and back unchanged: the node decodes what
// the client encoded.
func TestMechanismRoundTrip(t *testing.T) {
	for _, m := range []ckm.Mechanism{
		{Type: p11.CKM_SHA256},
		{Type: p11.CKM_AES_CBC_PAD, Param: ckm.IV{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: []byte{1, 2, 3}, AAD: []byte("aad"), TagBits: 96}},
		{Type: p11.CKM_AES_CTR, Param: &ckm.CTRParams{CounterBits: 32, CB: make([]byte, 16)}},
		{Type: p11.CKM_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: 32}},
		{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: p11.CKM_SHA_1, MGF: p11.CKG_MGF1_SHA1, Source: []byte("label")}},
		{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, SharedData: []byte{9}, PublicData: []byte{4, 1, 2}}},
		{Type: p11.CKM_RSA_AES_KEY_WRAP, Param: &ckm.RSAAESKeyWrapParams{AESKeyBits: 256,
			OAEP: ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, Source: []byte("l")}}},
		{Type: ckm.CKM_SP800_108_COUNTER_KDF, Param: &ckm.SP800108Params{PRF: p11.CKM_SHA256_HMAC, CounterBits: 32,
			DKMMethod: ckm.SP800108DKMSumOfKeys, DKMBits: 32, Label: []byte("label"), Context: []byte("context")}},
	} {
		got, err := MechanismFromPB(MechanismToPB(m))
		if err != nil {
			t.Fatalf("%#x: %v", m.Type, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%#x: round trip gave %#v, want %#v", m.Type, got, m)
		}
	}
	// A plain []byte is taken for an IV, as the module passes one.
	got, _ := MechanismFromPB(MechanismToPB(ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: []byte{7}}))
	if iv, ok := got.Param.(ckm.IV); !ok || !reflect.DeepEqual([]byte(iv), []byte{7}) {
		t.Errorf("[]byte parameter came back as %#v", got.Param)
	}
	if _, err := MechanismFromPB(nil); p11.Code(err) != p11.CKR_ARGUMENTS_BAD {
		t.Errorf("no mechanism: %v, want CKR_ARGUMENTS_BAD", err)
	}
}

// A set goes out sorted by type, so equal sets encode to equal bytes; a template keeps its order
// and duplicates.
func TestAttributeConversions(t *testing.T) {
	s := attr.Set{p11.CKA_VALUE: {1}, p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_TOKEN: attr.Bool(true)}
	pb := AttrsToPB(s)
	for i := 1; i < len(pb); i++ {
		if pb[i-1].Type >= pb[i].Type {
			t.Fatalf("AttrsToPB not sorted: %v", pb)
		}
	}
	back := AttrsFromPB(pb)
	if !reflect.DeepEqual(back, s) {
		t.Fatalf("set round trip gave %v, want %v", back, s)
	}
	pb[0].Value[0] ^= 0xff
	if reflect.DeepEqual(back, AttrsFromPB(pb)) {
		t.Error("AttrsFromPB shares memory with the message")
	}

	tmpl := []attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_DATA)}, {Type: p11.CKA_TOKEN, Value: attr.Bool(false)}}
	if got := TemplateFromPB(TemplateToPB(tmpl)); !reflect.DeepEqual(got, tmpl) {
		t.Errorf("template round trip gave %v, want %v", got, tmpl)
	}
}

func TestSessionHandleBit(t *testing.T) {
	if IsSessionHandle(1) || IsSessionHandle(1<<31-1) || !IsSessionHandle(SessionHandleBit|5) {
		t.Error("IsSessionHandle does not read the top bit")
	}
}
