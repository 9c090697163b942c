package hsmpb

// Conversions between the wire mechanism and the mechanism registry's form, shared by the node
// and its clients so both sides agree on every parameter.

import (
	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// MechanismFromPB decodes a wire mechanism. A missing mechanism is CKR_ARGUMENTS_BAD; the kind of
// parameter is checked by the mechanism itself (CKR_MECHANISM_PARAM_INVALID).
func MechanismFromPB(m *Mechanism) (mech.Mechanism, error) {
	if m == nil {
		return mech.Mechanism{}, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "no mechanism")
	}
	out := mech.Mechanism{Type: m.Type}
	switch p := m.Param.(type) {
	case *Mechanism_Iv:
		out.Param = mech.IV(p.Iv)
	case *Mechanism_Gcm:
		out.Param = &mech.GCMParams{IV: p.Gcm.GetIv(), AAD: p.Gcm.GetAad(), TagBits: p.Gcm.GetTagBits()}
	case *Mechanism_Ctr:
		out.Param = &mech.CTRParams{CounterBits: p.Ctr.GetCounterBits(), CB: p.Ctr.GetCb()}
	case *Mechanism_Pss:
		out.Param = &mech.PSSParams{Hash: p.Pss.GetHash(), MGF: p.Pss.GetMgf(), SaltLen: p.Pss.GetSaltLen()}
	case *Mechanism_Oaep:
		out.Param = &mech.OAEPParams{Hash: p.Oaep.GetHash(), MGF: p.Oaep.GetMgf(), Source: p.Oaep.GetSource()}
	case *Mechanism_Ecdh1:
		out.Param = &mech.ECDH1DeriveParams{KDF: p.Ecdh1.GetKdf(), SharedData: p.Ecdh1.GetSharedData(), PublicData: p.Ecdh1.GetPublicData()}
	}
	return out, nil
}

// MechanismToPB encodes a mechanism for the wire.
func MechanismToPB(m mech.Mechanism) *Mechanism {
	out := &Mechanism{Type: m.Type}
	switch p := m.Param.(type) {
	case mech.IV:
		out.Param = &Mechanism_Iv{Iv: p}
	case []byte:
		out.Param = &Mechanism_Iv{Iv: p}
	case *mech.GCMParams:
		out.Param = &Mechanism_Gcm{Gcm: &GcmParams{Iv: p.IV, Aad: p.AAD, TagBits: p.TagBits}}
	case *mech.CTRParams:
		out.Param = &Mechanism_Ctr{Ctr: &CtrParams{CounterBits: p.CounterBits, Cb: p.CB}}
	case *mech.PSSParams:
		out.Param = &Mechanism_Pss{Pss: &PssParams{Hash: p.Hash, Mgf: p.MGF, SaltLen: p.SaltLen}}
	case *mech.OAEPParams:
		out.Param = &Mechanism_Oaep{Oaep: &OaepParams{Hash: p.Hash, Mgf: p.MGF, Source: p.Source}}
	case *mech.ECDH1DeriveParams:
		out.Param = &Mechanism_Ecdh1{Ecdh1: &Ecdh1DeriveParams{Kdf: p.KDF, SharedData: p.SharedData, PublicData: p.PublicData}}
	}
	return out
}
