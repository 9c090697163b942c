package grant

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// A grant allows only operations its key can do: an asymmetric encryption key has no data key
// operations but GetPublicKey, a key agreement key only DeriveSharedSecret and GetPublicKey
// (CreateGrantRequest Operations in the KMS API Reference: "you cannot create ... a grant for an
// asymmetric KMS key that allows the GenerateDataKey operation").
func TestGrantOperationsByKeyType(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		spec, usage string
		ok, bad     []string
	}{
		{"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", []string{"GenerateDataKey", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptTo", "DescribeKey"}, []string{"GetPublicKey", "Sign", "DeriveSharedSecret"}},
		{"RSA_2048", "ENCRYPT_DECRYPT", []string{"Encrypt", "Decrypt", "ReEncryptFrom", "GetPublicKey", "CreateGrant"}, []string{"GenerateDataKey", "GenerateDataKeyPair", "Sign"}},
		{"ECC_NIST_P256", "SIGN_VERIFY", []string{"Sign", "Verify", "GetPublicKey", "RetireGrant"}, []string{"Encrypt", "GenerateMac"}},
		{"HMAC_256", "GENERATE_VERIFY_MAC", []string{"GenerateMac", "VerifyMac"}, []string{"GetPublicKey", "Encrypt"}},
		{"ECC_NIST_P384", "KEY_AGREEMENT", []string{"DeriveSharedSecret", "GetPublicKey"}, []string{"Sign", "Encrypt"}},
	} {
		for _, op := range tc.ok {
			if err := CheckOperations(key, tc.spec, tc.usage, []string{op}, false); err != nil {
				t.Errorf("%s %s: %s refused: %v", tc.spec, tc.usage, op, err)
			}
		}
		for _, op := range tc.bad {
			if err := CheckOperations(key, tc.spec, tc.usage, []string{op}, false); err == nil || err.Type != awsapi.ValidationException {
				t.Errorf("%s %s: %s: %v, want ValidationException", tc.spec, tc.usage, op, err)
			}
		}
	}
}

// Tokens: what New issues names its grant; anything else is InvalidGrantTokenException.
func TestTokens(t *testing.T) {
	g := New("111122223333", "us-east-1", "k", "", "arn:aws:iam::111122223333:role/app", "", []string{"Encrypt"}, nil, time.Time{})
	if id, err := IDOfToken(g.Token); err != nil || id != g.ID {
		t.Fatalf("IDOfToken(token of %s) = %q, %v", g.ID, id, err)
	}
	for _, bad := range []string{"", "not base64!", "aGVsbG8=", g.ID} {
		if err := CheckTokens([]string{g.Token, bad}); err == nil || err.Type != "InvalidGrantTokenException" {
			t.Errorf("token %q: %v, want InvalidGrantTokenException", bad, err)
		}
	}
}

// A grant to a role serves its sessions; constraints apply to the operations that take an
// encryption context only.
func TestAllows(t *testing.T) {
	role := "arn:aws:iam::111122223333:role/app"
	session := &policy.Principal{ARN: "arn:aws:sts::111122223333:assumed-role/app/s1", RoleARN: role}
	other := &policy.Principal{ARN: "arn:aws:iam::111122223333:user/bob"}
	g := New("111122223333", "us-east-1", "k", "", role, "", []string{"Decrypt", "DescribeKey"},
		&Constraints{EncryptionContextSubset: map[string]string{"app": "x"}}, time.Time{})
	for _, tc := range []struct {
		who  *policy.Principal
		op   string
		ec   map[string]string
		want bool
	}{
		{session, "Decrypt", map[string]string{"app": "x", "more": "y"}, true},
		{session, "Decrypt", map[string]string{"app": "z"}, false},
		{session, "DescribeKey", nil, true},
		{session, "Encrypt", map[string]string{"app": "x"}, false},
		{other, "Decrypt", map[string]string{"app": "x"}, false},
	} {
		if got := g.Allows(tc.who, tc.op, tc.ec); got != tc.want {
			t.Errorf("%s %s %v: %v, want %v", tc.who.ARN, tc.op, tc.ec, got, tc.want)
		}
	}
}

// A grant made through a grant stays within it.
func TestCovers(t *testing.T) {
	sub := &Grant{Operations: []string{"Decrypt", "Encrypt"}, Constraints: &Constraints{EncryptionContextSubset: map[string]string{"a": "1"}}}
	for _, tc := range []struct {
		ops  []string
		cons *Constraints
		want bool
	}{
		{[]string{"Decrypt"}, &Constraints{EncryptionContextSubset: map[string]string{"a": "1", "b": "2"}}, true},
		{[]string{"Decrypt"}, &Constraints{EncryptionContextEquals: map[string]string{"a": "1"}}, true},
		{[]string{"Decrypt"}, nil, false},
		{[]string{"Decrypt"}, &Constraints{EncryptionContextSubset: map[string]string{"b": "2"}}, false},
		{[]string{"Sign"}, &Constraints{EncryptionContextSubset: map[string]string{"a": "1"}}, false},
	} {
		if got := sub.Covers(tc.ops, tc.cons); got != tc.want {
			t.Errorf("Covers(%v, %+v) = %v, want %v", tc.ops, tc.cons, got, tc.want)
		}
	}
}

// The Set finds a grant by id and by key, and forgets a key with its last grant.
func TestSet(t *testing.T) {
	s := NewSet()
	a := New("111122223333", "us-east-1", "k", "", "arn:aws:iam::111122223333:root", "", []string{"Encrypt"}, nil, time.Time{})
	b := New("111122223333", "us-west-2", "k", "", "arn:aws:iam::111122223333:root", "", []string{"Encrypt"}, nil, time.Time{})
	s.Put(a)
	s.Put(b)
	if s.Get(a.ID) != a || len(s.Of(a.KeyOf())) != 1 || len(s.Of(b.KeyOf())) != 1 {
		t.Fatal("a multi-Region key's grants must stay with the key of their region")
	}
	s.Drop(a)
	if s.Get(a.ID) != nil || s.Of(a.KeyOf()) != nil || len(s.byKey) != 1 {
		t.Fatalf("after Drop: %+v", s.byKey)
	}
}
