package kms

import (
	"context"
	"crypto/x509"
	"errors"
	"math"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyimport"
)

// Imported key material: keys created with Origin EXTERNAL and no material, GetParametersForImport
// (a fresh RSA wrapping key and a sealed import token, package kms/keyimport), ImportKeyMaterial,
// DeleteImportedKeyMaterial, and the expiry of material whose ValidTo passed (the sweeper). A
// symmetric key may hold several imported materials: new material waits as PendingMaterial
// (PENDING_ROTATION) until RotateKeyOnDemand makes it current (rotation.go).
//
// The AWS pages followed: "Importing key material" and its steps ("Create a KMS key with no key
// material", "Download the wrapping public key and import token", "Encrypt the key material",
// "Import key material"), "Deleting imported key material", and the key state table.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html

// Exceptions of the import operations (their model's error lists).
const (
	errIncorrectKeyMaterial = "IncorrectKeyMaterialException"
	errExpiredImportToken   = "ExpiredImportTokenException"
	errInvalidImportToken   = "InvalidImportTokenException"
)

// ExpirationModel values.
const (
	materialExpires       = "KEY_MATERIAL_EXPIRES"
	materialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
)

// ImportType values.
const (
	importNew      = "NEW_KEY_MATERIAL"
	importExisting = "EXISTING_KEY_MATERIAL"
)

// maxValidity is how far ahead ValidTo may be: 365 days from the request (ImportKeyMaterial).
const maxValidity = 365 * 24 * time.Hour

// awaitsImport reports whether k is PendingImport: a key for imported material with none yet, or
// with any of its (non-pending) materials deleted or expired ("When any key material for an
// imported key is deleted or it expires, then the state changes from Enabled to PendingImport").
func awaitsImport(k *keyRec) bool {
	if k.Origin != originExt {
		return false
	}
	if len(k.Versions) == 0 {
		return true
	}
	for _, v := range k.Versions {
		if v.Sealed == nil {
			return true
		}
	}
	return false
}

// errPendingImport is the key state table's answer for a key in PendingImport.
func errPendingImport(k *keyRec) *awsapi.Error {
	return awsapi.NewError(errInvalidState, "%s is pending import.", keyARN(k))
}

// checkImportable is the key state rule of GetParametersForImport and ImportKeyMaterial: a key
// that cannot have imported material answers UnsupportedOperationException, one pending deletion
// KMSInvalidStateException.
func checkImportable(k *keyRec) *awsapi.Error {
	if err := checkExternal(k); err != nil {
		return err
	}
	return checkNotPending(k)
}

func checkExternal(k *keyRec) *awsapi.Error {
	if k.Origin != originExt {
		return awsapi.NewError(errUnsupported, "%s origin is %s which is not valid for this operation.", keyARN(k), k.Origin)
	}
	return nil
}

// importExpiry is KeyMetadata's ExpirationModel and ValidTo: for a key of imported material, the
// earliest expiry of the material it holds now, or the model of its last import when it holds
// none; nothing for other keys or before the first import.
func importExpiry(k *keyRec) (string, *awsapi.Timestamp) {
	if k.Origin != originExt || len(k.Versions) == 0 {
		return "", nil
	}
	model := ""
	var earliest time.Time
	for _, v := range k.Versions {
		switch {
		case v.Sealed == nil:
		case v.Expiration == materialExpires:
			model = materialExpires
			if earliest.IsZero() || v.ValidTo.Before(earliest) {
				earliest = v.ValidTo
			}
		case model == "":
			model = materialDoesNotExpire
		}
	}
	if model == "" {
		model = k.Versions[len(k.Versions)-1].Expiration
	}
	return model, awsapi.Time(earliest)
}

// ---- GetParametersForImport ----

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
		if err := checkImportable(k); err != nil {
			return nil, err
		}
		return k, nil
	})
	if err != nil {
		return nil, err
	}
	if err := keyimport.CheckParameters(in.WrappingAlgorithm, in.WrappingKeySpec); err != nil {
		switch {
		case errors.Is(err, keyimport.ErrDeprecatedAlgorithm):
			// "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping algorithm."
			return nil, awsapi.NewError(errUnsupported, "The RSAES_PKCS1_V1_5 wrapping algorithm is not supported.")
		case errors.Is(err, keyimport.ErrSM2):
			// The SM2 wrapping key spec is offered in the China Regions only (Step 2 of the guide).
			return nil, awsapi.NewError(errUnsupported, "The SM2 wrapping key spec and the SM2PKE wrapping algorithm are supported only in China Regions.")
		}
		return nil, awsapi.NewError(errUnsupported, "WrappingAlgorithm %s with WrappingKeySpec %s is not supported.", in.WrappingAlgorithm, in.WrappingKeySpec)
	}
	priv, gerr := keyimport.NewWrappingKey(in.WrappingKeySpec)
	if gerr != nil {
		return nil, gerr
	}
	validTo := s.now().UTC().Add(keyimport.TokenValidity)
	tok := &keyimport.Token{KeyID: k.ID, Algorithm: in.WrappingAlgorithm, ValidTo: validTo, WrappingKey: priv}
	sealed, serr := tok.Seal(storeHost{s})
	if serr != nil {
		return nil, serr
	}
	pub, perr := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if perr != nil {
		return nil, perr
	}
	return &parametersOutput{KeyId: keyARN(k), ImportToken: sealed, PublicKey: pub, ParametersValidTo: awsapi.Time(validTo)}, nil
}

// ---- ImportKeyMaterial ----

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

type importOutput struct {
	KeyId         string
	KeyMaterialId string `json:",omitempty"`
}

// expiration checks ExpirationModel and ValidTo: the model defaults to KEY_MATERIAL_EXPIRES,
// which requires a ValidTo in the next 365 days; KEY_MATERIAL_DOES_NOT_EXPIRE forbids one.
func (in *importInput) expiration(now time.Time) (string, time.Time, *awsapi.Error) {
	model := orDefault(in.ExpirationModel, materialExpires)
	if model == materialDoesNotExpire {
		if in.ValidTo != nil {
			return "", time.Time{}, awsapi.NewError(awsapi.ValidationException, "ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
		}
		return model, time.Time{}, nil
	}
	if in.ValidTo == nil {
		return "", time.Time{}, awsapi.NewError(awsapi.ValidationException, "ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
	}
	sec, frac := math.Modf(*in.ValidTo)
	validTo := time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond)).UTC()
	if !validTo.After(now) {
		return "", time.Time{}, awsapi.NewError(awsapi.ValidationException, "ValidTo must be in the future.")
	}
	if validTo.After(now.Add(maxValidity)) {
		return "", time.Time{}, awsapi.NewError(awsapi.ValidationException, "ValidTo must be no more than 365 days from now.")
	}
	return model, validTo, nil
}

func importKeyMaterial(s *Server, _ context.Context, c *caller, in *importInput) (*importOutput, error) {
	now := s.now().UTC()
	var matID string
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkImportable(k); err != nil {
			return err
		}
		model, validTo, verr := in.expiration(now)
		if verr != nil {
			return verr
		}
		if in.ImportType == importNew && in.KeyMaterialId != "" {
			return awsapi.NewError(awsapi.ValidationException, "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
		}
		if k.Spec != specSymmetric && (in.ImportType != "" || in.KeyMaterialDescription != nil || in.KeyMaterialId != "") {
			return awsapi.NewError(errUnsupported, "ImportType, KeyMaterialDescription and KeyMaterialId are valid only for symmetric encryption KMS keys.")
		}
		tok, err := s.openToken(k, in.ImportToken, now)
		if err != nil {
			return err
		}
		plain, uerr := keyimport.Unwrap(tok.WrappingKey, tok.Algorithm, in.EncryptedKeyMaterial)
		if uerr != nil {
			return awsapi.NewError(errInvalidCiphertext, "KMS cannot decrypt the encrypted key material with the wrapping key and algorithm of the import token.")
		}
		defer clear(plain)
		mat, cerr := keyimport.CheckMaterial(k.Spec, plain)
		if cerr != nil {
			return awsapi.NewError(errIncorrectKeyMaterial, "The key material is not valid for a KMS key with KeySpec %s.", k.Spec)
		}
		defer clear(mat.Secret)
		matID = keyimport.MaterialID(k.ID, mat.Secret)
		wasPending := awaitsImport(k)
		v, perr := placeMaterial(k, in, matID, now)
		if perr != nil {
			return perr
		}
		v.Sealed = s.db.seal(mat.Secret, materialAAD(k.ID, v.N))
		v.Expiration, v.ValidTo = model, validTo
		if in.KeyMaterialDescription != nil {
			v.Desc = *in.KeyMaterialDescription
		}
		s.software.forget(k.ID, v.N)
		if mat.PublicKey != nil {
			k.PublicKey = mat.PublicKey
		}
		if wasPending && !awaitsImport(k) {
			k.Enabled = true // "the state of the KMS key changes to Enabled"
		}
		useToken(k, tok, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &importOutput{KeyId: keyARN(k)}
	if k.Spec == specSymmetric {
		out.KeyMaterialId = matID
	}
	return out, nil
}

// openToken opens an import token for k: sealed by this KMS, issued for k, not used before
// (each wrapping key and token serve one import: "You must download and re-encrypt the key
// material each time you import key material"), and not expired.
func (s *Server) openToken(k *keyRec, b []byte, now time.Time) (*keyimport.Token, *awsapi.Error) {
	tok, err := keyimport.OpenToken(storeHost{s}, b)
	if err != nil || tok.KeyID != k.ID {
		return nil, awsapi.NewError(errInvalidImportToken, "The import token is invalid or is associated with a different KMS key.")
	}
	if _, used := k.UsedTokens[tok.ID]; used {
		return nil, awsapi.NewError(errInvalidImportToken, "The import token was already used. Call GetParametersForImport for a new one.")
	}
	if now.After(tok.ValidTo) {
		return nil, awsapi.NewError(errExpiredImportToken, "The import token expired at %s. Call GetParametersForImport for a new one.", tok.ValidTo.Format(time.RFC3339))
	}
	return tok, nil
}

// useToken records a token as used until it expires, forgetting those that expired already.
func useToken(k *keyRec, tok *keyimport.Token, now time.Time) {
	if k.UsedTokens == nil {
		k.UsedTokens = map[string]time.Time{}
	}
	for id, until := range k.UsedTokens {
		if now.After(until) {
			delete(k.UsedTokens, id)
		}
	}
	k.UsedTokens[tok.ID] = tok.ValidTo
}

// placeMaterial finds where material matID goes in k by the import's ImportType (by default new
// material for a key that never had any, else the key's existing material): new material is the
// key's first version or, for a symmetric key that has material, waits for RotateKeyOnDemand;
// existing material must be one of the key's own.
func placeMaterial(k *keyRec, in *importInput, matID string, now time.Time) (*matVersion, *awsapi.Error) {
	var known *matVersion
	for i := range k.Versions {
		if k.Versions[i].ID == matID {
			known = &k.Versions[i]
		}
	}
	if p := k.PendingMaterial; p != nil && p.ID == matID {
		known = p
	}
	typ := in.ImportType
	if typ == "" {
		typ = importExisting
		if len(k.Versions) == 0 && k.PendingMaterial == nil {
			typ = importNew
		}
	}
	if typ == importExisting {
		if known == nil || (in.KeyMaterialId != "" && in.KeyMaterialId != matID) {
			return nil, awsapi.NewError(errIncorrectKeyMaterial, "The key material is not the key material previously imported into %s.", keyARN(k))
		}
		return known, nil
	}
	if known != nil {
		return nil, awsapi.NewError(errIncorrectKeyMaterial, "NEW_KEY_MATERIAL was expected, but this key material is already associated with %s.", keyARN(k))
	}
	if len(k.Versions) == 0 {
		k.Versions = []matVersion{{N: 1, ID: matID, Created: now}}
		return &k.Versions[0], nil
	}
	if k.PendingMaterial != nil {
		return nil, awsapi.NewError(errInvalidState, "%s already has key material %s pending rotation: rotate it (RotateKeyOnDemand) or delete it first.", keyARN(k), k.PendingMaterial.ID)
	}
	k.PendingMaterial = &matVersion{N: uint32(len(k.Versions) + 1), ID: matID, Created: now}
	return k.PendingMaterial, nil
}

// ---- DeleteImportedKeyMaterial and expiry ----

type deleteImportedInput struct {
	KeyId         string
	KeyMaterialId string
}

type deleteImportedOutput struct {
	KeyId         string
	KeyMaterialId string `json:",omitempty"`
}

// deleteImportedKeyMaterial deletes one material of a key (by default the current one): the key
// is PendingImport (unless pending deletion) until the same material is imported again. Material
// pending rotation is not yet the key's: deleting it leaves the key as it was.
func deleteImportedKeyMaterial(s *Server, _ context.Context, c *caller, in *deleteImportedInput) (*deleteImportedOutput, error) {
	var deleted string
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkExternal(k); err != nil {
			return err
		}
		switch p := k.PendingMaterial; {
		case in.KeyMaterialId == "" && len(k.Versions) == 0:
			return nil // nothing imported yet: no effect
		case in.KeyMaterialId == "":
			deleted = k.Versions[len(k.Versions)-1].ID
		case p != nil && p.ID == in.KeyMaterialId:
			s.software.forget(k.ID, p.N)
			k.PendingMaterial, deleted = nil, p.ID
			return nil
		default:
			deleted = in.KeyMaterialId
		}
		for i := range k.Versions {
			if k.Versions[i].ID == deleted {
				s.dropMaterial(k, &k.Versions[i])
				return nil
			}
		}
		return awsapi.NewError(errNotFound, "Key material %s is not associated with %s.", in.KeyMaterialId, keyARN(k))
	})
	if err != nil {
		return nil, err
	}
	out := &deleteImportedOutput{KeyId: keyARN(k)}
	if k.Spec == specSymmetric {
		out.KeyMaterialId = deleted
	}
	return out, nil
}

// dropMaterial deletes the material of a version of k (a copy being changed).
func (s *Server) dropMaterial(k *keyRec, v *matVersion) {
	v.Sealed, v.ValidTo = nil, time.Time{}
	s.software.forget(k.ID, v.N)
}

// expireImportedMaterial deletes the imported material whose ValidTo has passed, as KMS does
// ("If you set an expiration date, KMS deletes the key material from the KMS key on the specified
// date, making the KMS key unusable").
func expireImportedMaterial(s *Server) {
	now := s.now()
	due := func(v *matVersion) bool {
		return v != nil && v.Sealed != nil && v.Expiration == materialExpires && !now.Before(v.ValidTo)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.keys {
		if cur.Origin != originExt {
			continue
		}
		var k *keyRec
		for i := range cur.Versions {
			if due(&cur.Versions[i]) {
				if k == nil {
					k = cur.clone()
				}
				s.dropMaterial(k, &k.Versions[i])
			}
		}
		if due(cur.PendingMaterial) {
			if k == nil {
				k = cur.clone()
			}
			s.software.forget(k.ID, k.PendingMaterial.N)
			k.PendingMaterial = nil
		}
		if k == nil {
			continue
		}
		if err := s.saveKey(k); err != nil {
			s.log.Error("imported key material expiry", "key", keyARN(k), "err", err)
			continue
		}
		s.log.Info("imported key material expired", "key", keyARN(k))
	}
}

// checkImportedRotatable is RotateKeyOnDemand's rule for a symmetric key of imported material: it
// rotates to material imported beforehand with ImportType NEW_KEY_MATERIAL ("you must have
// already imported new key material and that key material's state should be PENDING_ROTATION").
func checkImportedRotatable(k *keyRec) *awsapi.Error {
	if err := checkNotPending(k); err != nil {
		return err
	}
	if awaitsImport(k) {
		return errPendingImport(k)
	}
	if !k.Enabled {
		return awsapi.NewError(errDisabled, "%s is disabled.", keyARN(k))
	}
	if k.PendingMaterial == nil {
		return awsapi.NewError(errInvalidState, "%s has no key material in PENDING_ROTATION state. Import new key material with ImportType NEW_KEY_MATERIAL first.", keyARN(k))
	}
	return nil
}
