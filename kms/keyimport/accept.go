package keyimport

import (
	"fmt"
	"time"
)

// MaxValidity is how far ahead ValidTo may be: 365 days from the request (ImportKeyMaterial).
const MaxValidity = 365 * 24 * time.Hour

// ValidationError is an import request whose expiration parameters are wrong
// (ValidationException).
type ValidationError string

func (e ValidationError) Error() string { return string(e) }

// Request is an ImportKeyMaterial request as the checks of an import read it.
type Request struct {
	Token, Wrapped  []byte
	ExpirationModel string     // "" is the default, KEY_MATERIAL_EXPIRES
	ValidTo         *time.Time // required when the material expires, forbidden otherwise
}

// Accepted is imported key material that passed every check, ready to be sealed and kept.
type Accepted struct {
	*Material
	ID         string    // its KeyMaterialId (MaterialID)
	Expiration string    // the ExpirationModel
	ValidTo    time.Time // zero unless the material expires
	Token      *Token
}

// Accept runs the checks of an import into KMS key keyID of key spec spec, in order: the
// expiration parameters; the token (sealed by s, issued for keyID, not used before, not expired);
// the wrapped material (it decrypts under the token's wrapping key and algorithm); the material
// (it fits spec). used reports whether a token id served an import already.
func Accept(s Sealer, keyID, spec string, r *Request, used func(tokenID string) bool, now time.Time) (*Accepted, error) {
	model, validTo, err := expiration(r, now)
	if err != nil {
		return nil, err
	}
	tok, err := OpenToken(s, r.Token)
	if err != nil || tok.KeyID != keyID {
		return nil, fmt.Errorf("%w: it is not a token for this KMS key", ErrInvalidToken)
	}
	if used(tok.ID) {
		return nil, errTokenUsed
	}
	if now.After(tok.ValidTo) {
		return nil, ErrExpiredToken
	}
	plain, err := Unwrap(tok.WrappingKey, tok.Algorithm, r.Wrapped)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	m, err := CheckMaterial(spec, plain)
	if err != nil {
		return nil, err
	}
	return &Accepted{Material: m, ID: MaterialID(keyID, m.Secret), Expiration: model, ValidTo: validTo, Token: tok}, nil
}

// expiration checks ExpirationModel and ValidTo (ImportKeyMaterial): the model defaults to
// KEY_MATERIAL_EXPIRES, which needs a ValidTo after now and at most 365 days ahead;
// KEY_MATERIAL_DOES_NOT_EXPIRE must come without one.
func expiration(r *Request, now time.Time) (string, time.Time, error) {
	switch {
	case r.ExpirationModel == "KEY_MATERIAL_DOES_NOT_EXPIRE" && r.ValidTo != nil:
		return "", time.Time{}, ValidationError("ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
	case r.ExpirationModel == "KEY_MATERIAL_DOES_NOT_EXPIRE":
		return r.ExpirationModel, time.Time{}, nil
	case r.ValidTo == nil:
		return "", time.Time{}, ValidationError("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
	case !r.ValidTo.After(now):
		return "", time.Time{}, ValidationError("ValidTo must be in the future.")
	case r.ValidTo.After(now.Add(MaxValidity)):
		return "", time.Time{}, ValidationError("ValidTo must be no more than 365 days from now.")
	}
	return "KEY_MATERIAL_EXPIRES", r.ValidTo.UTC(), nil
}

// Remember records a token as used until it expires in used (made when nil), and forgets those
// that expired: an expired token is refused as expired anyway.
func Remember(used map[string]time.Time, tok *Token, now time.Time) map[string]time.Time {
	if used == nil {
		used = map[string]time.Time{}
	}
	for id, until := range used {
		if now.After(until) {
			delete(used, id)
		}
	}
	used[tok.ID] = tok.ValidTo
	return used
}
