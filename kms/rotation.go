package kms

import (
	"context"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keymaterial"
)

// Key rotation: automatic (EnableKeyRotation, the sweep) and on demand, each adding a version
// of the key material; ciphertexts name the version they were made with.

// maxOnDemandRotations is the per-key quota of RotateKeyOnDemand: 25, not adjustable (the
// model's RotateKeyOnDemand documentation; "On-demand rotations" in
// https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html).
const maxOnDemandRotations = 25

// checkRotatable: only symmetric keys whose material KMS made can rotate; custom key store keys
// cannot (BOTO-KMS EnableKeyRotation, RotateKeyOnDemand).
func checkRotatable(k *keyRec, needEnabled bool) *awsapi.Error {
	if k.Spec != specSymmetric || k.Origin != originKMS {
		return awsapi.NewError(errUnsupported, "%s does not support automatic or on-demand key rotation: only symmetric encryption KMS keys with AWS_KMS key material can rotate.", keyARN(k))
	}
	if k.IsReplica() {
		// Rotation is a shared property of a multi-Region set, set and done on its primary key
		// (EnableKeyRotation, RotateKeyOnDemand in the KMS API Reference).
		return awsapi.NewError(errUnsupported, "%s is a multi-Region replica key: rotate its primary key in %s.", keyARN(k), k.PrimaryRegion)
	}
	if err := checkNotPending(k); err != nil {
		return err
	}
	if needEnabled && !k.Enabled {
		return awsapi.NewError(errDisabled, "%s is disabled.", keyARN(k))
	}
	return nil
}

type enableRotationInput struct {
	KeyId                string
	RotationPeriodInDays *int
}

func enableKeyRotation(s *Server, _ context.Context, c *caller, in *enableRotationInput) (*empty, error) {
	period := 365
	if in.RotationPeriodInDays != nil {
		period = *in.RotationPeriodInDays
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkRotatable(k, true); err != nil {
			return err
		}
		k.RotationOn, k.RotationPeriod = true, period
		k.NextRotation = s.now().UTC().Add(time.Duration(period) * 24 * time.Hour)
		return nil
	})
	return nil, err
}

func disableKeyRotation(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkRotatable(k, true); err != nil {
			return err
		}
		k.RotationOn, k.NextRotation = false, time.Time{}
		return nil
	})
	return nil, err
}

type rotationStatusOutput struct {
	KeyRotationEnabled        bool
	KeyId                     string
	RotationPeriodInDays      int               `json:",omitempty"`
	NextRotationDate          *awsapi.Timestamp `json:",omitempty"`
	OnDemandRotationStartDate *awsapi.Timestamp `json:",omitempty"`
}

func getKeyRotationStatus(s *Server, _ context.Context, c *caller, in *keyIDInput) (*rotationStatusOutput, error) {
	return viewKey(s, c, in.KeyId, func(k *keyRec) (*rotationStatusOutput, error) {
		if err := checkHasRotations(k); err != nil {
			return nil, err
		}
		// A key pending deletion shows rotation off; canceling the deletion shows it again
		// (GetKeyRotationStatus in the KMS API Reference, "Pending deletion").
		on := k.RotationOn && !k.Pending
		out := &rotationStatusOutput{KeyRotationEnabled: on, KeyId: keyARN(k)}
		if on {
			out.RotationPeriodInDays, out.NextRotationDate = k.RotationPeriod, awsapi.Time(k.NextRotation)
		}
		return out, nil
	})
}

// checkHasRotations: only the keys that can rotate have a rotation status and rotations to list.
func checkHasRotations(k *keyRec) *awsapi.Error {
	if k.Spec != specSymmetric || k.Origin != originKMS {
		return awsapi.NewError(errUnsupported, "%s does not support key rotation.", keyARN(k))
	}
	return nil
}

func rotateKeyOnDemand(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyIDOutput, error) {
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if k.Origin == originExt && k.Spec == specSymmetric {
			if err := checkImportedRotatable(k); err != nil {
				return err
			}
		} else if err := checkRotatable(k, true); err != nil {
			return err
		}
		n := 0
		for _, v := range k.Versions {
			if v.Rotation == "ON_DEMAND" {
				n++
			}
		}
		if n >= maxOnDemandRotations {
			return awsapi.NewError(errLimitExceeded, "%s has reached the limit of %d on-demand rotations.", keyARN(k), maxOnDemandRotations)
		}
		if k.Rotate(s.now().UTC()) { // imported material pending rotation becomes current
			return nil
		}
		return s.software.AddVersion(k, "ON_DEMAND")
	})
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{KeyId: keyARN(k)}, nil
}

// rotateDueKeys performs the automatic rotations whose date has come. Disabled keys and keys
// pending deletion are not rotated; a disabled key whose date passed rotates when it is enabled
// again (enableKey).
func rotateDueKeys(s *Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.keys {
		if !cur.Enabled || !rotationDue(s, cur) {
			continue
		}
		k := cur.Clone()
		if err := rotateNow(s, k); err != nil {
			continue
		}
		if err := s.saveKey(k); err != nil {
			s.log.Error("automatic rotation", "key", keyARN(k), "err", err)
		}
	}
}

// rotationDue: k rotates automatically and its date has come (a multi-Region replica rotates
// only with its primary).
func rotationDue(s *Server, k *keyRec) bool {
	return k.RotationOn && !k.Pending && !k.IsReplica() && !s.now().Before(k.NextRotation)
}

// rotateNow adds an automatic rotation to k and starts its next period from now.
func rotateNow(s *Server, k *keyRec) error {
	if err := s.software.AddVersion(k, "AUTOMATIC"); err != nil {
		return err
	}
	k.NextRotation = s.now().UTC().Add(time.Duration(k.RotationPeriod) * 24 * time.Hour)
	return nil
}

type listRotationsInput struct {
	KeyId              string
	IncludeKeyMaterial string
	Limit              *int
	Marker             *string
}

type listRotationsOutput struct {
	Rotations  []keymaterial.Entry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

// listKeyRotations lists a key's materials made by rotations (ROTATIONS_ONLY, the default) or all
// of them (ALL_KEY_MATERIAL: the first too, and imported material pending rotation), each with
// its state; for imported material also whether it is imported now, its description and expiry.
func listKeyRotations(s *Server, _ context.Context, c *caller, in *listRotationsInput) (*listRotationsOutput, error) {
	all := in.IncludeKeyMaterial == "ALL_KEY_MATERIAL"
	entries, rerr := viewKey(s, c, in.KeyId, func(k *keyRec) ([]keymaterial.Entry, error) {
		if k.Origin != originExt || k.Spec != specSymmetric {
			if err := checkHasRotations(k); err != nil {
				return nil, err
			}
		}
		return k.List(keyARN(k), k.Origin == originExt, all), nil
	})
	if rerr != nil {
		return nil, rerr
	}
	items, next, trunc, err := page(entries, keymaterial.Entry.Order, in.Limit, 100, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listRotationsOutput{Rotations: append([]keymaterial.Entry{}, items...), NextMarker: next, Truncated: trunc}, nil
}
