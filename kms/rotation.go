package kms

import (
	"context"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Key rotation: automatic (EnableKeyRotation, the sweeper) and on demand, each adding a version
// of the key material; ciphertexts name the version they were made with.

// maxOnDemandRotations is the per-key quota of RotateKeyOnDemand.
const maxOnDemandRotations = 10

// checkRotatable: only symmetric keys whose material KMS made can rotate; custom key store keys
// cannot (BOTO-KMS EnableKeyRotation, RotateKeyOnDemand).
func checkRotatable(k *keyRec, needEnabled bool) *awsapi.Error {
	if k.Spec != specSymmetric || k.Origin != originKMS {
		return awsapi.NewError(errUnsupported, "%s does not support automatic or on-demand key rotation: only symmetric encryption KMS keys with AWS_KMS key material can rotate.", keyARN(k))
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
		out := &rotationStatusOutput{KeyRotationEnabled: k.RotationOn, KeyId: keyARN(k)}
		if k.RotationOn {
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
		if p := k.PendingMaterial; p != nil {
			// Imported material pending rotation becomes current (imports.go).
			v := *p
			v.Rotation, v.Created = "ON_DEMAND", s.now().UTC()
			k.Versions, k.PendingMaterial = append(k.Versions, v), nil
			return nil
		}
		return s.software.addVersion(k, "ON_DEMAND")
	})
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{KeyId: keyARN(k)}, nil
}

// rotateDueKeys performs the automatic rotations whose date has come.
func rotateDueKeys(s *Server) {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.keys {
		if !cur.RotationOn || cur.Pending || now.Before(cur.NextRotation) {
			continue
		}
		k := cur.clone()
		if err := s.software.addVersion(k, "AUTOMATIC"); err != nil {
			continue
		}
		k.NextRotation = now.Add(time.Duration(k.RotationPeriod) * 24 * time.Hour)
		if err := s.saveKey(k); err != nil {
			s.log.Error("automatic rotation", "key", keyARN(k), "err", err)
		}
	}
}

type listRotationsInput struct {
	KeyId              string
	IncludeKeyMaterial string
	Limit              *int
	Marker             *string
}

type rotationEntry struct {
	KeyId                  string
	KeyMaterialId          string
	KeyMaterialDescription string `json:",omitempty"`
	ImportState            string `json:",omitempty"`
	KeyMaterialState       string
	ExpirationModel        string            `json:",omitempty"`
	ValidTo                *awsapi.Timestamp `json:",omitempty"`
	RotationDate           *awsapi.Timestamp `json:",omitempty"`
	RotationType           string            `json:",omitempty"`
	sortKey                string            // paging order: the version number
}

type listRotationsOutput struct {
	Rotations  []rotationEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

// listKeyRotations lists a key's materials made by rotations (ROTATIONS_ONLY, the default) or all
// of them (ALL_KEY_MATERIAL: the first too, and imported material pending rotation), each with
// its state; for imported material also whether it is imported now, its description and expiry.
func listKeyRotations(s *Server, _ context.Context, c *caller, in *listRotationsInput) (*listRotationsOutput, error) {
	all := in.IncludeKeyMaterial == "ALL_KEY_MATERIAL"
	entries, rerr := viewKey(s, c, in.KeyId, func(k *keyRec) ([]rotationEntry, error) {
		if k.Origin != originExt || k.Spec != specSymmetric {
			if err := checkHasRotations(k); err != nil {
				return nil, err
			}
		}
		var out []rotationEntry
		for i, v := range k.Versions {
			if v.Rotation == "" && !all {
				continue
			}
			st := "NON_CURRENT"
			if i == len(k.Versions)-1 {
				st = "CURRENT"
			}
			out = append(out, rotationListEntry(k, v, st))
		}
		if p := k.PendingMaterial; p != nil && all {
			out = append(out, rotationListEntry(k, *p, "PENDING_ROTATION"))
		}
		return out, nil
	})
	if rerr != nil {
		return nil, rerr
	}
	items, next, trunc, err := page(entries, func(e rotationEntry) string { return e.sortKey }, in.Limit, 100, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listRotationsOutput{Rotations: append([]rotationEntry{}, items...), NextMarker: next, Truncated: trunc}, nil
}

// rotationListEntry describes version v of k in state st.
func rotationListEntry(k *keyRec, v matVersion, st string) rotationEntry {
	e := rotationEntry{KeyId: keyARN(k), KeyMaterialId: v.ID, KeyMaterialState: st, sortKey: fmt.Sprintf("%010d", v.N)}
	if v.Rotation != "" && st != "PENDING_ROTATION" {
		e.RotationDate, e.RotationType = awsapi.Time(v.Created), v.Rotation
	}
	if k.Origin == originExt {
		e.KeyMaterialDescription, e.ExpirationModel, e.ImportState = v.Desc, v.Expiration, "IMPORTED"
		if v.Sealed == nil {
			e.ImportState = "PENDING_IMPORT"
		} else if v.Expiration == materialExpires {
			e.ValidTo = awsapi.Time(v.ValidTo)
		}
	}
	return e
}
