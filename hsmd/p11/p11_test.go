package p11

import (
	"errors"
	"fmt"
	"testing"
)

func TestCode(t *testing.T) {
	cases := []struct {
		err  error
		want uint32
	}{
		{nil, CKR_OK},
		{Error(CKR_KEY_HANDLE_INVALID), CKR_KEY_HANDLE_INVALID},
		{fmt.Errorf("wrapped: %w", Error(CKR_PIN_INCORRECT)), CKR_PIN_INCORRECT},
		{Errorf(CKR_TEMPLATE_INCOMPLETE, "missing %s", AttrName(CKA_VALUE_LEN)), CKR_TEMPLATE_INCOMPLETE},
		{errors.New("disk on fire"), CKR_GENERAL_ERROR},
	}
	for _, c := range cases {
		if got := Code(c.err); got != c.want {
			t.Errorf("Code(%v) = %s, want %s", c.err, RVName(got), RVName(c.want))
		}
	}
}

func TestNamesComeFromTheHeader(t *testing.T) {
	if RVName(CKR_ATTRIBUTE_SENSITIVE) != "CKR_ATTRIBUTE_SENSITIVE" || MechName(CKM_AES_GCM) != "CKM_AES_GCM" ||
		AttrName(CKA_LABEL) != "CKA_LABEL" {
		t.Fatal("name tables do not match the constants")
	}
	if RVName(0x7777) != "0x00007777" {
		t.Fatalf("unknown code printed as %q", RVName(0x7777))
	}
	if CKA_WRAP_TEMPLATE != CKF_ARRAY_ATTRIBUTE|0x211 {
		t.Fatal("compound macro evaluated wrongly")
	}
}

func TestReasonRefinesACodeWithoutChangingIt(t *testing.T) {
	err := fmt.Errorf("login: %w", WithReason(Errorf(CKR_PIN_INCORRECT, "user not found"), ReasonUserNotFound))
	if Code(err) != CKR_PIN_INCORRECT || Reason(err) != ReasonUserNotFound {
		t.Fatalf("code %s reason %q", RVName(Code(err)), Reason(err))
	}
	if Reason(Error(CKR_PIN_INCORRECT)) != "" {
		t.Fatal("a plain code has a reason")
	}
}
