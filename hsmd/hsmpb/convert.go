package hsmpb

// Every hand-written conversion between the wire messages and the Go values of hsmsim lives in
// this file: mechanisms (hsmd/ckm) and attributes (hsmd/attr), in both directions. The node, its
// state machine and its clients all use these, so both sides of the wire agree on every field,
// and a new parameter or field is added in one place.

import (
	"maps"
	"slices"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// MechanismFromPB decodes a wire mechanism. A missing mechanism is CKR_ARGUMENTS_BAD; the kind of
// parameter is checked by the mechanism itself (CKR_MECHANISM_PARAM_INVALID).
func MechanismFromPB(m *Mechanism) (ckm.Mechanism, error) {
	if m == nil {
		return ckm.Mechanism{}, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "no mechanism")
	}
	out := ckm.Mechanism{Type: m.Type}
	switch p := m.Param.(type) {
	case *Mechanism_Iv:
		out.Param = ckm.IV(p.Iv)
	case *Mechanism_Gcm:
		out.Param = &ckm.GCMParams{IV: p.Gcm.GetIv(), AAD: p.Gcm.GetAad(), TagBits: p.Gcm.GetTagBits()}
	case *Mechanism_Ctr:
		out.Param = &ckm.CTRParams{CounterBits: p.Ctr.GetCounterBits(), CB: p.Ctr.GetCb()}
	case *Mechanism_Pss:
		out.Param = &ckm.PSSParams{Hash: p.Pss.GetHash(), MGF: p.Pss.GetMgf(), SaltLen: p.Pss.GetSaltLen()}
	case *Mechanism_Oaep:
		out.Param = &ckm.OAEPParams{Hash: p.Oaep.GetHash(), MGF: p.Oaep.GetMgf(), Source: p.Oaep.GetSource()}
	case *Mechanism_Ecdh1:
		out.Param = &ckm.ECDH1DeriveParams{KDF: p.Ecdh1.GetKdf(), SharedData: p.Ecdh1.GetSharedData(), PublicData: p.Ecdh1.GetPublicData()}
	case *Mechanism_RsaAes:
		o := p.RsaAes.GetOaep()
		out.Param = &ckm.RSAAESKeyWrapParams{AESKeyBits: p.RsaAes.GetAesKeyBits(),
			OAEP: ckm.OAEPParams{Hash: o.GetHash(), MGF: o.GetMgf(), Source: o.GetSource()}}
	case *Mechanism_Sp800_108:
		k := p.Sp800_108
		out.Param = &ckm.SP800108Params{PRF: k.GetPrf(), CounterBits: k.GetCounterBits(), DKMMethod: k.GetDkmMethod(),
			DKMBits: k.GetDkmBits(), Label: k.GetLabel(), Context: k.GetContext()}
	}
	return out, nil
}

// MechanismToPB encodes a mechanism for the wire.
func MechanismToPB(m ckm.Mechanism) *Mechanism {
	out := &Mechanism{Type: m.Type}
	switch p := m.Param.(type) {
	case ckm.IV:
		out.Param = &Mechanism_Iv{Iv: p}
	case []byte:
		out.Param = &Mechanism_Iv{Iv: p}
	case *ckm.GCMParams:
		out.Param = &Mechanism_Gcm{Gcm: &GcmParams{Iv: p.IV, Aad: p.AAD, TagBits: p.TagBits}}
	case *ckm.CTRParams:
		out.Param = &Mechanism_Ctr{Ctr: &CtrParams{CounterBits: p.CounterBits, Cb: p.CB}}
	case *ckm.PSSParams:
		out.Param = &Mechanism_Pss{Pss: &PssParams{Hash: p.Hash, Mgf: p.MGF, SaltLen: p.SaltLen}}
	case *ckm.OAEPParams:
		out.Param = &Mechanism_Oaep{Oaep: &OaepParams{Hash: p.Hash, Mgf: p.MGF, Source: p.Source}}
	case *ckm.ECDH1DeriveParams:
		out.Param = &Mechanism_Ecdh1{Ecdh1: &Ecdh1DeriveParams{Kdf: p.KDF, SharedData: p.SharedData, PublicData: p.PublicData}}
	case *ckm.RSAAESKeyWrapParams:
		out.Param = &Mechanism_RsaAes{RsaAes: &RsaAesKeyWrapParams{AesKeyBits: p.AESKeyBits,
			Oaep: &OaepParams{Hash: p.OAEP.Hash, Mgf: p.OAEP.MGF, Source: p.OAEP.Source}}}
	case *ckm.SP800108Params:
		out.Param = &Mechanism_Sp800_108{Sp800_108: &Sp800108Params{Prf: p.PRF, CounterBits: p.CounterBits,
			DkmMethod: p.DKMMethod, DkmBits: p.DKMBits, Label: p.Label, Context: p.Context}}
	}
	return out
}

// AttrsToPB encodes an attribute set sorted by type, so that the same set always marshals to the
// same bytes (commands, snapshots and the replica digest depend on it).
func AttrsToPB(s attr.Set) []*Attribute {
	out := make([]*Attribute, 0, len(s))
	for _, t := range slices.Sorted(maps.Keys(s)) {
		out = append(out, &Attribute{Type: t, Value: s[t]})
	}
	return out
}

// AttrsFromPB decodes an attribute set; the values are copied, so the set does not share memory
// with the message. Of repeated types the last wins.
func AttrsFromPB(l []*Attribute) attr.Set {
	s := make(attr.Set, len(l))
	for _, a := range l {
		s[a.Type] = append([]byte(nil), a.Value...)
	}
	return s
}

// TemplateToPB encodes a template, keeping its order and duplicates.
func TemplateToPB(t []attr.Attribute) []*Attribute {
	out := make([]*Attribute, len(t))
	for i, a := range t {
		out[i] = &Attribute{Type: a.Type, Value: a.Value}
	}
	return out
}

// TemplateFromPB decodes a wire template, keeping order and duplicates (attr.NewObject reports
// conflicting duplicates).
func TemplateFromPB(l []*Attribute) []attr.Attribute {
	out := make([]attr.Attribute, len(l))
	for i, a := range l {
		out[i] = attr.Attribute{Type: a.Type, Value: a.Value}
	}
	return out
}
