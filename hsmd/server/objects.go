package server

import (
	"context"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

func (v *service) CreateObject(ctx context.Context, r *hsmpb.CreateObjectRequest) (*hsmpb.HandleResponse, error) {
	c, err := keyUser(ctx)
	if err != nil {
		return nil, err
	}
	return v.n.makeObject(ctx, c, attr.OpCreate, r.Template, nil, p11.CK_UNAVAILABLE_INFORMATION, nil)
}

func (v *service) CopyObject(ctx context.Context, r *hsmpb.CopyObjectRequest) (*hsmpb.HandleResponse, error) {
	c, src, err := v.object(ctx, r.Handle, keyUser)
	if err != nil {
		return nil, err
	}
	if _, err := v.n.lookupToUse(c, r.Handle, p11.CKR_OBJECT_HANDLE_INVALID); err != nil {
		return nil, err
	}
	tmpl := hsmpb.TemplateFromPB(r.Template)
	if err := token.CheckTrusted(c.user.Role, tmpl); err != nil {
		return nil, err
	}
	a, err := attr.Copy(src.Attrs.Set(), tmpl)
	if err != nil {
		return nil, err
	}
	h, err := v.n.createObject(ctx, c, a)
	if err != nil {
		return nil, err
	}
	return &hsmpb.HandleResponse{Handle: h}, nil
}

func (v *service) DestroyObject(ctx context.Context, r *hsmpb.ObjectRequest) (*hsmpb.Empty, error) {
	c, err := keyUser(ctx)
	if err != nil {
		return nil, err
	}
	if hsmpb.IsSessionHandle(r.Handle) {
		o, err := v.n.lookup(c, r.Handle, p11.CKR_OBJECT_HANDLE_INVALID)
		if err != nil {
			return nil, err
		}
		if d, ok := o.Attrs.Bool(p11.CKA_DESTROYABLE); ok && !d {
			return nil, p11.Errorf(p11.CKR_ACTION_PROHIBITED, "object has CKA_DESTROYABLE false")
		}
		v.n.sess.remove(r.Handle)
		return &hsmpb.Empty{}, nil
	}
	return v.apply(ctx, token.CmdDestroyObject, &hsmpb.CmdDestroyObject{Actor: c.user.Name, Handle: r.Handle})
}

// GetAttributes answers per attribute, as C_GetAttributeValue must: a sensitive or unknown
// attribute does not hide the others.
func (v *service) GetAttributes(ctx context.Context, r *hsmpb.GetAttributesRequest) (*hsmpb.GetAttributesResponse, error) {
	_, o, err := v.object(ctx, r.Handle, reader)
	if err != nil {
		return nil, err
	}
	out := &hsmpb.GetAttributesResponse{Results: make([]*hsmpb.AttributeResult, 0, len(r.Types))}
	for _, t := range r.Types {
		val, err := attr.Read(o.Attrs, t)
		out.Results = append(out.Results, &hsmpb.AttributeResult{Type: t, Value: val, Rv: p11.Code(err)})
	}
	return out, nil
}

func (v *service) SetAttributes(ctx context.Context, r *hsmpb.SetAttributesRequest) (*hsmpb.Empty, error) {
	tmpl := hsmpb.TemplateFromPB(r.Template)
	if c := callerOf(ctx); c != nil && c.user.Role == token.RoleAdmin && token.OnlyTrusted(tmpl) && !hsmpb.IsSessionHandle(r.Handle) {
		// The admin's one change to a key: vouching for it (the state machine checks the rest).
		return v.apply(ctx, token.CmdSetAttributes, &hsmpb.CmdSetAttributes{Actor: c.user.Name, Handle: r.Handle, Template: r.Template})
	}
	c, err := keyUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := token.CheckTrusted(c.user.Role, tmpl); err != nil {
		return nil, err
	}
	if hsmpb.IsSessionHandle(r.Handle) {
		o, err := v.n.lookup(c, r.Handle, p11.CKR_OBJECT_HANDLE_INVALID)
		if err != nil {
			return nil, err
		}
		a, err := attr.Modify(o.Attrs.Set(), tmpl)
		if err != nil {
			return nil, err
		}
		v.n.sess.replace(r.Handle, a)
		return &hsmpb.Empty{}, nil
	}
	return v.apply(ctx, token.CmdSetAttributes, &hsmpb.CmdSetAttributes{Actor: c.user.Name, Handle: r.Handle, Template: r.Template})
}

func (v *service) FindObjects(ctx context.Context, r *hsmpb.FindRequest) (*hsmpb.FindResponse, error) {
	c, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	tmpl := hsmpb.TemplateFromPB(r.Template)
	hs := v.n.State().Find(c.user.Name, tmpl)
	hs = append(hs, v.n.sess.find(c, tmpl)...) // session handles sort after token ones
	return &hsmpb.FindResponse{Handles: hs}, nil
}

// GetObjectSize reports the bytes the object's attributes occupy, the spec's "approximate size".
func (v *service) GetObjectSize(ctx context.Context, r *hsmpb.ObjectRequest) (*hsmpb.ObjectSizeResponse, error) {
	_, o, err := v.object(ctx, r.Handle, reader)
	if err != nil {
		return nil, err
	}
	var size uint64
	for _, val := range o.Attrs.All() {
		size += 4 + uint64(len(val))
	}
	return &hsmpb.ObjectSizeResponse{Size: size}, nil
}

func (v *service) ShareKey(ctx context.Context, r *hsmpb.ShareRequest) (*hsmpb.Empty, error) {
	c, err := cryptoUser(ctx)
	if err != nil {
		return nil, err
	}
	if hsmpb.IsSessionHandle(r.Handle) {
		return nil, p11.Errorf(p11.CKR_ACTION_PROHIBITED, "session objects cannot be shared")
	}
	return v.apply(ctx, token.CmdShareKey, &hsmpb.CmdShareKey{Actor: c.user.Name, Handle: r.Handle, User: r.User, Share: r.Share})
}

// object is the common start of the calls about one object: the caller must be one who (a crypto
// user, or reader's public session), and the object one it may see (else
// CKR_OBJECT_HANDLE_INVALID).
func (v *service) object(ctx context.Context, h uint32, who func(context.Context) (*caller, error)) (*caller, *token.Object, error) {
	c, err := who(ctx)
	if err != nil {
		return nil, nil, err
	}
	o, err := v.n.lookup(c, h, p11.CKR_OBJECT_HANDLE_INVALID)
	if err != nil {
		return nil, nil, err
	}
	return c, o, nil
}
