package server

import (
	"context"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

func (v *service) GenerateKey(ctx context.Context, r *hsmpb.GenerateKeyRequest) (*hsmpb.HandleResponse, error) {
	c, m, implied, err := v.generation(ctx, r.Mechanism)
	if err != nil {
		return nil, err
	}
	return v.n.makeObject(ctx, c, attr.OpGenerate, r.Template, implied, uint64(m.Type), func(a attr.Set) (attr.Set, error) {
		return mech.GenerateKey(m, a)
	})
}

// GenerateKeyPair makes both halves here and stores them together: two token halves go in one
// command, so a pair is never half-created.
func (v *service) GenerateKeyPair(ctx context.Context, r *hsmpb.GenerateKeyPairRequest) (*hsmpb.KeyPairResponse, error) {
	c, m, implied, err := v.generation(ctx, r.Mechanism)
	if err != nil {
		return nil, err
	}
	pubImplied, privImplied := implied.Clone(), implied.Clone()
	pubImplied[p11.CKA_CLASS] = attr.Ulong(p11.CKO_PUBLIC_KEY)
	privImplied[p11.CKA_CLASS] = attr.Ulong(p11.CKO_PRIVATE_KEY)
	pubT, privT := hsmpb.TemplateFromPB(r.PublicTemplate), hsmpb.TemplateFromPB(r.PrivateTemplate)
	if err := token.CheckTrusted(c.user.Role, append(pubT, privT...)); err != nil {
		return nil, err
	}
	pub, err := attr.NewObject(attr.OpGenerate, pubT, pubImplied)
	if err != nil {
		return nil, err
	}
	priv, err := attr.NewObject(attr.OpGenerate, privT, privImplied)
	if err != nil {
		return nil, err
	}
	pubAdd, privAdd, err := mech.GenerateKeyPair(m, pub, priv)
	if err != nil {
		return nil, err
	}
	if pub, err = attr.Complete(attr.OpGenerate, pub, pubAdd, uint64(m.Type)); err != nil {
		return nil, err
	}
	if priv, err = attr.Complete(attr.OpGenerate, priv, privAdd, uint64(m.Type)); err != nil {
		return nil, err
	}
	pubTok, _ := pub.Bool(p11.CKA_TOKEN)
	privTok, _ := priv.Bool(p11.CKA_TOKEN)
	if !pubTok || !privTok {
		// Mixed or session pairs: each half goes where its CKA_TOKEN says.
		ph, err := v.n.createObject(ctx, c, pub)
		if err != nil {
			return nil, err
		}
		kh, err := v.n.createObject(ctx, c, priv)
		if err != nil {
			return nil, err
		}
		return &hsmpb.KeyPairResponse{PublicHandle: ph, PrivateHandle: kh}, nil
	}
	s, err := v.n.ready()
	if err != nil {
		return nil, err
	}
	np, err := s.SealObject(c.user.Name, pub)
	if err != nil {
		return nil, err
	}
	nk, err := s.SealObject(c.user.Name, priv)
	if err != nil {
		return nil, err
	}
	res, _, err := v.n.propose(ctx, token.Command{Type: token.CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: c.user.Name, Objects: []*hsmpb.NewObject{np, nk}}})
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return &hsmpb.KeyPairResponse{PublicHandle: res.Handles[0], PrivateHandle: res.Handles[1]}, nil
}

// generation is the common start of the key-generation calls: a crypto user, the mechanism, and
// the class and key type it makes.
func (v *service) generation(ctx context.Context, pm *hsmpb.Mechanism) (*caller, ckm.Mechanism, attr.Set, error) {
	c, err := keyUser(ctx)
	if err != nil {
		return nil, ckm.Mechanism{}, nil, err
	}
	m, err := hsmpb.MechanismFromPB(pm)
	if err != nil {
		return nil, m, nil, err
	}
	implied, err := mech.Implied(m.Type)
	if err != nil {
		return nil, m, nil, err
	}
	return c, m, implied, nil
}

// usableKey resolves a key handle for a crypto call: visible to the caller (else notFound), a
// key permitting usage, parsed for the mechanisms.
func (v *service) usableKey(ctx context.Context, h uint32, usage, notFound uint32) (*caller, *token.Object, *mech.Key, error) {
	c, err := keyUser(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := v.n.lookupToUse(c, h, notFound)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := attr.Permits(o.Attrs, usage); err != nil {
		return nil, nil, nil, err
	}
	k, err := o.Key()
	if err != nil {
		return nil, nil, nil, err
	}
	return c, o, k, nil
}

// keyOp decodes the mechanism and resolves a key the caller may use for usage: the common
// start of every single-key crypto call.
func (v *service) keyOp(ctx context.Context, pm *hsmpb.Mechanism, h, usage uint32) (ckm.Mechanism, *mech.Key, error) {
	m, err := hsmpb.MechanismFromPB(pm)
	if err != nil {
		return m, nil, err
	}
	_, _, k, err := v.usableKey(ctx, h, usage, p11.CKR_KEY_HANDLE_INVALID)
	return m, k, err
}

func (v *service) Encrypt(ctx context.Context, r *hsmpb.CryptRequest) (*hsmpb.CryptResponse, error) {
	m, k, err := v.keyOp(ctx, r.Mechanism, r.Key, p11.CKA_ENCRYPT)
	if err != nil {
		return nil, err
	}
	out, used, err := mech.Encrypt(m, k, r.Data)
	if err != nil {
		return nil, err
	}
	return &hsmpb.CryptResponse{Data: out, Mechanism: hsmpb.MechanismToPB(used)}, nil
}

func (v *service) Decrypt(ctx context.Context, r *hsmpb.CryptRequest) (*hsmpb.CryptResponse, error) {
	return v.crypt(ctx, "Decrypt", r, p11.CKA_DECRYPT, mech.Decrypt)
}

func (v *service) Sign(ctx context.Context, r *hsmpb.CryptRequest) (*hsmpb.CryptResponse, error) {
	return v.crypt(ctx, "Sign", r, p11.CKA_SIGN, mech.Sign)
}

// crypt runs a data-in, data-out operation (name: Decrypt, Sign) with a key the caller may use
// for usage, once the node's limiter (if any) gives it its turn.
func (v *service) crypt(ctx context.Context, name string, r *hsmpb.CryptRequest, usage uint32, op func(ckm.Mechanism, *mech.Key, []byte) ([]byte, error)) (*hsmpb.CryptResponse, error) {
	m, k, err := v.keyOp(ctx, r.Mechanism, r.Key, usage)
	if err != nil {
		return nil, err
	}
	if err := v.n.admit(ctx, name, k); err != nil {
		return nil, err
	}
	out, err := op(m, k, r.Data)
	if err != nil {
		return nil, err
	}
	return &hsmpb.CryptResponse{Data: out}, nil
}

func (v *service) Verify(ctx context.Context, r *hsmpb.VerifyRequest) (*hsmpb.Empty, error) {
	m, k, err := v.keyOp(ctx, r.Mechanism, r.Key, p11.CKA_VERIFY)
	if err != nil {
		return nil, err
	}
	if err := mech.Verify(m, k, r.Data, r.Signature); err != nil {
		return nil, err
	}
	return &hsmpb.Empty{}, nil
}

// WrapKey exports a key encrypted under another. The key must be extractable: a key with
// CKA_EXTRACTABLE false never leaves the HSM in any form.
func (v *service) WrapKey(ctx context.Context, r *hsmpb.WrapRequest) (*hsmpb.CryptResponse, error) {
	m, err := hsmpb.MechanismFromPB(r.Mechanism)
	if err != nil {
		return nil, err
	}
	c, _, wk, err := v.usableKey(ctx, r.WrappingKey, p11.CKA_WRAP, p11.CKR_WRAPPING_KEY_HANDLE_INVALID)
	if err != nil {
		return nil, err
	}
	target, err := v.n.lookupToUse(c, r.Key, p11.CKR_KEY_HANDLE_INVALID)
	if err != nil {
		return nil, err
	}
	if x, ok := target.Attrs.Bool(p11.CKA_EXTRACTABLE); !ok || !x {
		return nil, p11.Errorf(p11.CKR_KEY_UNEXTRACTABLE, "key %d has CKA_EXTRACTABLE false", r.Key)
	}
	if wwt, _ := target.Attrs.Bool(p11.CKA_WRAP_WITH_TRUSTED); wwt {
		if tr, _ := wk.Attrs.Bool(p11.CKA_TRUSTED); !tr {
			return nil, p11.Errorf(p11.CKR_KEY_NOT_WRAPPABLE, "key %d may only be wrapped with a trusted key", r.Key)
		}
	}
	out, err := mech.Wrap(m, wk, target.Attrs.Set())
	if err != nil {
		return nil, err
	}
	// m as used: an AES-GCM wrap with an empty IV carries the HSM-generated one back.
	return &hsmpb.CryptResponse{Data: out, Mechanism: hsmpb.MechanismToPB(m)}, nil
}

func (v *service) UnwrapKey(ctx context.Context, r *hsmpb.UnwrapRequest) (*hsmpb.HandleResponse, error) {
	m, err := hsmpb.MechanismFromPB(r.Mechanism)
	if err != nil {
		return nil, err
	}
	c, _, uk, err := v.usableKey(ctx, r.UnwrappingKey, p11.CKA_UNWRAP, p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID)
	if err != nil {
		return nil, err
	}
	return v.n.makeObject(ctx, c, attr.OpUnwrap, r.Template, nil, p11.CK_UNAVAILABLE_INFORMATION, func(a attr.Set) (attr.Set, error) {
		return mech.Unwrap(m, uk, r.Wrapped, a)
	})
}

func (v *service) DeriveKey(ctx context.Context, r *hsmpb.DeriveRequest) (*hsmpb.HandleResponse, error) {
	m, err := hsmpb.MechanismFromPB(r.Mechanism)
	if err != nil {
		return nil, err
	}
	c, base, bk, err := v.usableKey(ctx, r.BaseKey, p11.CKA_DERIVE, p11.CKR_KEY_HANDLE_INVALID)
	if err != nil {
		return nil, err
	}
	return v.n.makeObject(ctx, c, attr.OpDerive, r.Template, nil, p11.CK_UNAVAILABLE_INFORMATION, func(a attr.Set) (attr.Set, error) {
		mat, err := mech.Derive(m, bk, a)
		if err != nil {
			return nil, err
		}
		// A derived key is "always sensitive" / "never extractable" only if its base key was:
		// attr.Complete reads the base key's history from the material it is given.
		for _, t := range []uint32{p11.CKA_ALWAYS_SENSITIVE, p11.CKA_NEVER_EXTRACTABLE} {
			if v, ok := base.Attrs.Get(t); ok {
				mat[t] = v
			}
		}
		return mat, nil
	})
}

// CheckKeyUse answers what an operation with this key and mechanism would answer before it
// touched data: the C_*Init checks (mech.Check), after the key's visibility and usage flag.
func (v *service) CheckKeyUse(ctx context.Context, r *hsmpb.CheckRequest) (*hsmpb.Empty, error) {
	switch r.Usage {
	case p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_SIGN, p11.CKA_VERIFY:
	default:
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "usage %#x is not an operation's key attribute", r.Usage)
	}
	m, k, err := v.keyOp(ctx, r.Mechanism, r.Key, r.Usage)
	if err != nil {
		return nil, err
	}
	return &hsmpb.Empty{}, mech.Check(r.Usage, m, k)
}
