package kms

import (
	"context"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyimport"
	"github.com/hsmsim/hsmsim/kms/keymaterial"
	"github.com/hsmsim/hsmsim/kms/softstore"
)

// Imported key material: keys of Origin EXTERNAL, GetParametersForImport, ImportKeyMaterial,
// DeleteImportedKeyMaterial, PendingImport and expiry (the sweeper). Package kms/keyimport has the
// wrapping cryptography, the token and an import's checks; kms/keymaterial where material goes
// among a key's versions. AWS's guide "Importing key material" (its steps, "Deleting imported key
// material") and the key state table are the specification.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html

// Exceptions of the import operations (their model's error lists).
const (
	errIncorrectKeyMaterial = "IncorrectKeyMaterialException"
	errExpiredImportToken   = "ExpiredImportTokenException"
	errInvalidImportToken   = "InvalidImportTokenException"
)

// importedStore is the key store of Origin EXTERNAL keys: the default store's sealing and
// cryptography over imported material, which a key is created without (it waits in PendingImport).
type importedStore struct{ softwareStore }

func (importedStore) newKey(context.Context, *caller, *keyRec, string) error { return nil }

// errPendingImport is the key state table's answer for a key in PendingImport.
func errPendingImport(k *keyRec) *awsapi.Error {
	return awsapi.NewError(errInvalidState, "%s is pending import.", keyARN(k))
}

// checkExternal: a key that cannot have imported material answers UnsupportedOperationException
// (key state table: "If the KMS key cannot or does not have imported key material"); for
// GetParametersForImport and ImportKeyMaterial (notPending) one pending deletion is refused too.
func checkExternal(k *keyRec, notPending bool) *awsapi.Error {
	if k.Origin != originExt {
		return awsapi.NewError(errUnsupported, "%s origin is %s which is not valid for this operation.", keyARN(k), k.Origin)
	}
	if notPending {
		return checkNotPending(k)
	}
	return nil
}

// importError is the AWS exception of a failed check of packages keyimport and keymaterial.
func importError(k *keyRec, err error) error {
	var ve keyimport.ValidationError
	typ := ""
	switch {
	case errors.As(err, &ve):
		typ = awsapi.ValidationException
	case errors.Is(err, keyimport.ErrExpiredToken):
		typ = errExpiredImportToken
	case errors.Is(err, keyimport.ErrInvalidToken):
		typ = errInvalidImportToken
	case errors.Is(err, keyimport.ErrUndecryptable):
		typ = errInvalidCiphertext
	case errors.Is(err, keyimport.ErrIncorrectMaterial), errors.Is(err, keymaterial.ErrNotThisKeys), errors.Is(err, keymaterial.ErrAlreadyThisKeys):
		typ = errIncorrectKeyMaterial
	case errors.Is(err, keymaterial.ErrRotationPending):
		typ = errInvalidState
	case errors.Is(err, keymaterial.ErrUnknown):
		typ = errNotFound
	default:
		return err
	}
	return awsapi.NewError(typ, "%s: %v.", keyARN(k), err)
}

type parametersInput struct {
	KeyId             string
	WrappingAlgorithm string
	WrappingKeySpec   string
}

type parametersOutput struct {
	KeyId             string
	ImportToken       []byte
	PublicKey         []byte
	ParametersValidTo *awsapi.Timestamp
}

// getParametersForImport hands out a new RSA wrapping key and the token that binds it to the key
// for 24 hours. The token carries the wrapping key sealed under the master key, so nothing is
// stored and a restart does not invalidate it.
func getParametersForImport(s *Server, _ context.Context, c *caller, in *parametersInput) (*parametersOutput, error) {
	k, err := viewKey(s, c, in.KeyId, func(k *keyRec) (*keyRec, error) {
		if err := checkExternal(k, true); err != nil {
			return nil, err
		}
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	if err := keyimport.CheckParameters(in.WrappingAlgorithm, in.WrappingKeySpec); err != nil {
		// RSAES_PKCS1_V1_5 is refused since October 10, 2023 and SM2 is for the China Regions
		// only (GetParametersForImport; Step 2 of the guide).
		return nil, awsapi.NewError(errUnsupported, "WrappingAlgorithm %s with WrappingKeySpec %s is not supported: %v.", in.WrappingAlgorithm, in.WrappingKeySpec, err)
	}
	pub, token, validTo, err := keyimport.Issue(storeHost{s}, k.ID, in.WrappingAlgorithm, in.WrappingKeySpec, s.now().UTC())
	if err != nil {
		return nil, err
	}
	return &parametersOutput{KeyId: keyARN(k), ImportToken: token, PublicKey: pub, ParametersValidTo: awsapi.Time(validTo)}, nil
}

// conditions: kms:WrappingAlgorithm and kms:WrappingKeySpec (AWS KMS condition keys).
func (in *parametersInput) conditions(c *caller) {
	c.Req.Context.Set("kms:WrappingAlgorithm", in.WrappingAlgorithm)
	c.Req.Context.Set("kms:WrappingKeySpec", in.WrappingKeySpec)
}

// conditions: kms:ExpirationModel and kms:ValidTo (in epoch seconds, which both the Numeric and
// the Date operators read), when the request has them.
func (in *importInput) conditions(c *caller) {
	if in.ExpirationModel != "" {
		c.Req.Context.Set("kms:ExpirationModel", in.ExpirationModel)
	}
	if in.ValidTo != nil {
		c.Req.Context.Set("kms:ValidTo", strconv.FormatInt(int64(*in.ValidTo), 10))
	}
}

type importInput struct {
	KeyId                  string
	ImportToken            []byte
	EncryptedKeyMaterial   []byte
	ValidTo                *float64 // seconds since the epoch, as AWS JSON 1.1 sends timestamps
	ExpirationModel        string
	ImportType             string
	KeyMaterialDescription *string
	KeyMaterialId          string
}

// materialOutput is the answer of ImportKeyMaterial and DeleteImportedKeyMaterial: the key ARN
// and, for a symmetric key (the keys with a CurrentKeyMaterialId), the key material's id.
type materialOutput struct {
	KeyId         string
	KeyMaterialId string `json:",omitempty"`
}

func materialOut(k *keyRec, id string) (*materialOutput, error) {
	out := &materialOutput{KeyId: keyARN(k)}
	if k.Spec == specSymmetric {
		out.KeyMaterialId = id
	}
	return out, nil
}

func importKeyMaterial(s *Server, _ context.Context, c *caller, in *importInput) (*materialOutput, error) {
	now := s.now().UTC()
	req := &keyimport.Request{Token: in.ImportToken, Wrapped: in.EncryptedKeyMaterial, ExpirationModel: in.ExpirationModel}
	if in.ValidTo != nil {
		sec, frac := math.Modf(*in.ValidTo)
		t := time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond))
		req.ValidTo = &t
	}
	var matID string
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkExternal(k, true); err != nil {
			return err
		}
		// ImportType, KeyMaterialDescription and KeyMaterialId are "only usable with symmetric
		// encryption keys", and a key material id names existing material only.
		if k.Spec != specSymmetric && (in.ImportType != "" || in.KeyMaterialDescription != nil || in.KeyMaterialId != "") {
			return awsapi.NewError(errUnsupported, "ImportType, KeyMaterialDescription and KeyMaterialId are valid only for symmetric encryption KMS keys.")
		}
		if in.ImportType == keymaterial.ImportNew && in.KeyMaterialId != "" {
			return awsapi.NewError(awsapi.ValidationException, "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
		}
		a, err := keyimport.Accept(storeHost{s}, k.ID, k.Spec, req, func(id string) bool { _, used := k.UsedTokens[id]; return used }, now)
		if err != nil {
			return importError(k, err)
		}
		defer clear(a.Secret)
		wasPending := k.AwaitsImport()
		v, err := k.Place(in.ImportType, in.KeyMaterialId, a.ID, now)
		if err != nil {
			return importError(k, err)
		}
		v.Sealed, v.Expiration, v.ValidTo = s.db.Seal(a.Secret, softstore.MaterialAAD(k.ID, v.N)), a.Expiration, a.ValidTo
		if in.KeyMaterialDescription != nil {
			v.Desc = *in.KeyMaterialDescription
		}
		s.software.Forget(k.ID, v.N)
		if a.PublicKey != nil {
			k.PublicKey = a.PublicKey
		}
		if wasPending && !k.AwaitsImport() {
			k.Enabled = true // "the state of the KMS key changes to Enabled"
		}
		k.UsedTokens, matID = keyimport.Remember(k.UsedTokens, a.Token, now), a.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return materialOut(k, matID)
}

type deleteImportedInput struct {
	KeyId         string
	KeyMaterialId string
}

// deleteImportedKeyMaterial deletes one material of a key (by default the current one): the key
// is PendingImport (unless pending deletion) until the same material is imported again.
func deleteImportedKeyMaterial(s *Server, _ context.Context, c *caller, in *deleteImportedInput) (*materialOutput, error) {
	var deleted string
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkExternal(k, false); err != nil {
			return err
		}
		v, err := k.Delete(in.KeyMaterialId)
		if err != nil {
			return importError(k, err)
		}
		if v != nil {
			s.software.Forget(k.ID, v.N)
			deleted = v.ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return materialOut(k, deleted)
}

// expireImportedMaterial deletes the imported material whose ValidTo has passed.
func expireImportedMaterial(s *Server) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.keys {
		if cur.Origin != originExt {
			continue
		}
		k := cur.Clone()
		gone := k.Expire(now)
		if len(gone) == 0 {
			continue
		}
		if err := s.saveKey(k); err != nil {
			s.log.Error("imported key material expiry", "key", keyARN(k), "err", err)
			continue
		}
		for _, v := range gone {
			s.software.Forget(k.ID, v.N)
		}
		s.log.Info("imported key material expired", "key", keyARN(k))
	}
}

// checkImportedRotatable is RotateKeyOnDemand's rule for a symmetric key of imported material: it
// rotates to material imported beforehand with ImportType NEW_KEY_MATERIAL ("you must have
// already imported new key material and that key material's state should be PENDING_ROTATION").
func checkImportedRotatable(k *keyRec) *awsapi.Error {
	switch {
	case k.Pending:
		return checkNotPending(k)
	case k.AwaitsImport():
		return errPendingImport(k)
	case !k.Enabled:
		return awsapi.NewError(errDisabled, "%s is disabled.", keyARN(k))
	case k.PendingRotation == nil:
		return awsapi.NewError(errInvalidState, "%s has no key material in PENDING_ROTATION state. Import new key material with ImportType NEW_KEY_MATERIAL first.", keyARN(k))
	}
	return nil
}
