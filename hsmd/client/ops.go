package client

import (
	"context"
	"slices"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// Info returns the node's token and cluster information.
func (c *Client) Info(ctx context.Context) (*hsmpb.InfoResponse, error) {
	return c.api.GetInfo(ctx, &hsmpb.Empty{})
}

// Login logs in with a PKCS#11 PIN's parts and keeps the credential in the session. While a
// client of that session lives, the login's lease is renewed, so the login ends on the cluster
// soon after the process that made it is gone (lease.go).
func (c *Client) Login(ctx context.Context, user, password string) (*hsmpb.LoginResponse, error) {
	r, err := c.api.Login(ctx, &hsmpb.LoginRequest{User: user, Password: password})
	if err != nil {
		return nil, err
	}
	c.sess.setLogin(r.Credential, time.Duration(r.LeaseSeconds)*time.Second)
	if hsmpb.Role(r.Role) == hsmpb.Role_ROLE_ADMIN {
		c.sess.mu.Lock()
		c.sess.officer = true
		c.sess.mu.Unlock()
	}
	return r, nil
}

// Logout ends the session's login.
func (c *Client) Logout(ctx context.Context) error {
	_, err := c.api.Logout(ctx, &hsmpb.Empty{})
	if err == nil {
		c.sess.SetCredential("")
		c.forgetHomes() // the logout ended this login's session objects on every node
	}
	return err
}

// ChangePassword changes user's password ("" = the logged-in user's own).
func (c *Client) ChangePassword(ctx context.Context, user, password string) error {
	_, err := c.api.ChangePassword(ctx, &hsmpb.ChangePasswordRequest{User: user, NewPassword: password})
	return err
}

// CreateUser creates a user (admins only).
func (c *Client) CreateUser(ctx context.Context, user string, role hsmpb.Role, password string) error {
	_, err := c.api.CreateUser(ctx, &hsmpb.CreateUserRequest{User: user, Role: role, Password: password})
	return err
}

// DeleteUser deletes a user (admins only).
func (c *Client) DeleteUser(ctx context.Context, user string) error {
	_, err := c.api.DeleteUser(ctx, &hsmpb.DeleteUserRequest{User: user})
	return err
}

// ListUsers lists the users with their lock state, active logins and owned keys.
func (c *Client) ListUsers(ctx context.Context) ([]*hsmpb.UserInfo, error) {
	r, err := c.api.ListUsers(ctx, &hsmpb.Empty{})
	if err != nil {
		return nil, err
	}
	return r.Users, nil
}

// PinStatus returns the wrong-password counts of the named users (no login needed).
func (c *Client) PinStatus(ctx context.Context, users ...string) (*hsmpb.PinStatusResponse, error) {
	return c.api.GetPinStatus(ctx, &hsmpb.PinStatusRequest{Users: users})
}

// CreateObject is C_CreateObject.
func (c *Client) CreateObject(ctx context.Context, t []attr.Attribute) (uint32, error) {
	r, err := c.api.CreateObject(ctx, &hsmpb.CreateObjectRequest{Template: hsmpb.TemplateToPB(t)})
	return r.GetHandle(), err
}

// CopyObject is C_CopyObject.
func (c *Client) CopyObject(ctx context.Context, h uint32, t []attr.Attribute) (uint32, error) {
	r, err := c.api.CopyObject(ctx, &hsmpb.CopyObjectRequest{Handle: h, Template: hsmpb.TemplateToPB(t)})
	return r.GetHandle(), err
}

// DestroyObject is C_DestroyObject.
func (c *Client) DestroyObject(ctx context.Context, h uint32) error {
	_, err := c.api.DestroyObject(ctx, &hsmpb.ObjectRequest{Handle: h})
	if err == nil {
		c.forgetHomes(h)
	}
	return err
}

// GetAttributes is C_GetAttributeValue: one result (value or CK_RV) per type.
func (c *Client) GetAttributes(ctx context.Context, h uint32, types ...uint32) ([]*hsmpb.AttributeResult, error) {
	r, err := c.api.GetAttributes(ctx, &hsmpb.GetAttributesRequest{Handle: h, Types: types})
	return r.GetResults(), err
}

// SetAttributes is C_SetAttributeValue.
func (c *Client) SetAttributes(ctx context.Context, h uint32, t []attr.Attribute) error {
	_, err := c.api.SetAttributes(ctx, &hsmpb.SetAttributesRequest{Handle: h, Template: hsmpb.TemplateToPB(t)})
	return err
}

// FindObjects returns every matching handle the caller sees: token objects from any node, and
// session objects from each node that holds some of this client's (they are not replicated).
func (c *Client) FindObjects(ctx context.Context, t []attr.Attribute) ([]uint32, error) {
	req := &hsmpb.FindRequest{Template: hsmpb.TemplateToPB(t)}
	r, err := c.api.FindObjects(ctx, req)
	if err != nil {
		return nil, err
	}
	seen := map[uint32]bool{}
	out := make([]uint32, 0, len(r.Handles))
	add := func(hs []uint32) {
		for _, h := range hs {
			if !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	add(r.Handles)
	for _, nc := range c.homeNodes() {
		r, err := c.api.FindObjects(context.WithValue(ctx, pinKey{}, nc), req)
		switch {
		case err == nil:
			add(r.Handles)
		case !Retryable(err):
			return nil, err
		} // an unreachable node's session objects are gone with it: nothing to list
	}
	slices.Sort(out)
	return out, nil
}

// ShareKey shares (or unshares) a key with another crypto user.
func (c *Client) ShareKey(ctx context.Context, h uint32, user string, share bool) error {
	_, err := c.api.ShareKey(ctx, &hsmpb.ShareRequest{Handle: h, User: user, Share: share})
	return err
}

// GenerateKey is C_GenerateKey.
func (c *Client) GenerateKey(ctx context.Context, m ckm.Mechanism, t []attr.Attribute) (uint32, error) {
	r, err := c.api.GenerateKey(ctx, &hsmpb.GenerateKeyRequest{Mechanism: hsmpb.MechanismToPB(m), Template: hsmpb.TemplateToPB(t)})
	return r.GetHandle(), err
}

// GenerateKeyPair is C_GenerateKeyPair.
func (c *Client) GenerateKeyPair(ctx context.Context, m ckm.Mechanism, pub, priv []attr.Attribute) (pubH, privH uint32, err error) {
	r, err := c.api.GenerateKeyPair(ctx, &hsmpb.GenerateKeyPairRequest{Mechanism: hsmpb.MechanismToPB(m), PublicTemplate: hsmpb.TemplateToPB(pub), PrivateTemplate: hsmpb.TemplateToPB(priv)})
	return r.GetPublicHandle(), r.GetPrivateHandle(), err
}

// Encrypt is C_Encrypt; used carries HSM-generated parameters (the GCM IV) back.
func (c *Client) Encrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) (out []byte, used ckm.Mechanism, err error) {
	r, err := c.api.Encrypt(ctx, &hsmpb.CryptRequest{Mechanism: hsmpb.MechanismToPB(m), Key: key, Data: data})
	if err != nil {
		return nil, m, err
	}
	used, err = hsmpb.MechanismFromPB(r.Mechanism)
	if r.Mechanism == nil {
		used, err = m, nil
	}
	return r.Data, used, err
}

// Decrypt is C_Decrypt.
func (c *Client) Decrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, error) {
	r, err := c.api.Decrypt(ctx, &hsmpb.CryptRequest{Mechanism: hsmpb.MechanismToPB(m), Key: key, Data: data})
	return r.GetData(), err
}

// Sign is C_Sign.
func (c *Client) Sign(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, error) {
	r, err := c.api.Sign(ctx, &hsmpb.CryptRequest{Mechanism: hsmpb.MechanismToPB(m), Key: key, Data: data})
	return r.GetData(), err
}

// Verify is C_Verify: nil when the signature is valid.
func (c *Client) Verify(ctx context.Context, m ckm.Mechanism, key uint32, data, sig []byte) error {
	_, err := c.api.Verify(ctx, &hsmpb.VerifyRequest{Mechanism: hsmpb.MechanismToPB(m), Key: key, Data: data, Signature: sig})
	return err
}

// Digest is C_Digest.
func (c *Client) Digest(ctx context.Context, m ckm.Mechanism, data []byte) ([]byte, error) {
	r, err := c.api.Digest(ctx, &hsmpb.DigestRequest{Mechanism: hsmpb.MechanismToPB(m), Data: data})
	return r.GetData(), err
}

// WrapKey is C_WrapKey.
func (c *Client) WrapKey(ctx context.Context, m ckm.Mechanism, wrapping, key uint32) ([]byte, error) {
	r, err := c.api.WrapKey(ctx, &hsmpb.WrapRequest{Mechanism: hsmpb.MechanismToPB(m), WrappingKey: wrapping, Key: key})
	return r.GetData(), err
}

// UnwrapKey is C_UnwrapKey.
func (c *Client) UnwrapKey(ctx context.Context, m ckm.Mechanism, unwrapping uint32, wrapped []byte, t []attr.Attribute) (uint32, error) {
	r, err := c.api.UnwrapKey(ctx, &hsmpb.UnwrapRequest{Mechanism: hsmpb.MechanismToPB(m), UnwrappingKey: unwrapping, Wrapped: wrapped, Template: hsmpb.TemplateToPB(t)})
	return r.GetHandle(), err
}

// DeriveKey is C_DeriveKey.
func (c *Client) DeriveKey(ctx context.Context, m ckm.Mechanism, base uint32, t []attr.Attribute) (uint32, error) {
	r, err := c.api.DeriveKey(ctx, &hsmpb.DeriveRequest{Mechanism: hsmpb.MechanismToPB(m), BaseKey: base, Template: hsmpb.TemplateToPB(t)})
	return r.GetHandle(), err
}

// GenerateRandom is C_GenerateRandom.
func (c *Client) GenerateRandom(ctx context.Context, n uint32) ([]byte, error) {
	r, err := c.api.GenerateRandom(ctx, &hsmpb.RandomRequest{Length: n})
	return r.GetData(), err
}

// CheckKeyUse asks whether an operation with key and m could start (the C_*Init checks); usage
// is CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN or CKA_VERIFY.
func (c *Client) CheckKeyUse(ctx context.Context, usage uint32, m ckm.Mechanism, key uint32) error {
	_, err := c.api.CheckKeyUse(ctx, &hsmpb.CheckRequest{Mechanism: hsmpb.MechanismToPB(m), Key: key, Usage: usage})
	return err
}
