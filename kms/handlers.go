package kms

import (
	"context"
	"strings"

	"github.com/hsmsim/hsmsim/kms/authz"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/lastuse"
)

// kmsHandlers is every TrentService operation hsmsim implements. An operation of the model that is
// not here (external key stores) is validated and then answered with UnsupportedOperationException.
var kmsHandlers = map[string]handler{
	"CreateKey":            op(createKey),
	"DescribeKey":          op(describeKey),
	"ListKeys":             op(listKeys),
	"EnableKey":            op(enableKey),
	"DisableKey":           op(disableKey),
	"ScheduleKeyDeletion":  op(scheduleKeyDeletion),
	"CancelKeyDeletion":    op(cancelKeyDeletion),
	"UpdateKeyDescription": op(updateKeyDescription),
	"TagResource":          op(tagResource),
	"UntagResource":        op(untagResource),
	"ListResourceTags":     op(listResourceTags),
	"GetKeyPolicy":         op(getKeyPolicy),
	"PutKeyPolicy":         op(putKeyPolicy),
	"ListKeyPolicies":      op(listKeyPolicies),
	"EnableKeyRotation":    op(enableKeyRotation),
	"DisableKeyRotation":   op(disableKeyRotation),
	"GetKeyRotationStatus": op(getKeyRotationStatus),
	"RotateKeyOnDemand":    op(rotateKeyOnDemand),
	"ListKeyRotations":     op(listKeyRotations),
	"ReplicateKey":         op(replicateKey),
	"UpdatePrimaryRegion":  op(updatePrimaryRegion),
	"GetKeyLastUsage":      op(getKeyLastUsage),

	"GetParametersForImport":    op(getParametersForImport),
	"ImportKeyMaterial":         op(importKeyMaterial),
	"DeleteImportedKeyMaterial": op(deleteImportedKeyMaterial),

	"CreateAlias": op(createAlias),
	"UpdateAlias": op(updateAlias),
	"DeleteAlias": op(deleteAlias),
	"ListAliases": op(listAliases),

	"Encrypt":                         op(encryptOp),
	"Decrypt":                         op(decryptOp),
	"ReEncrypt":                       op(reEncryptOp),
	"GenerateDataKey":                 op(generateDataKey),
	"GenerateDataKeyWithoutPlaintext": op(generateDataKeyWithoutPlaintext),
	"GenerateRandom":                  op(generateRandom),
	"GenerateMac":                     op(generateMac),
	"VerifyMac":                       op(verifyMac),
	"Sign":                            op(signOp),
	"Verify":                          op(verifyOp),
	"GetPublicKey":                    op(getPublicKey),

	"GenerateDataKeyPair":                 op(generateDataKeyPair),
	"GenerateDataKeyPairWithoutPlaintext": op(generateDataKeyPairWithoutPlaintext),
	"DeriveSharedSecret":                  op(deriveSharedSecret),

	"CreateGrant":         op(createGrant),
	"ListGrants":          op(listGrants),
	"ListRetirableGrants": op(listRetirableGrants),
	"RetireGrant":         op(retireGrant),
	"RevokeGrant":         op(revokeGrant),

	"CreateCustomKeyStore":     op(createCustomKeyStore),
	"DescribeCustomKeyStores":  op(describeCustomKeyStores),
	"UpdateCustomKeyStore":     op(updateCustomKeyStore),
	"DeleteCustomKeyStore":     op(deleteCustomKeyStore),
	"ConnectCustomKeyStore":    op(connectCustomKeyStore),
	"DisconnectCustomKeyStore": op(disconnectCustomKeyStore),
}

// handler runs one operation on a validated body.
type handler func(s *Server, ctx context.Context, c *caller, body []byte) (any, error)

// op adapts a typed handler: the body (already checked against the model) is decoded into In.
func op[In, Out any](f func(s *Server, ctx context.Context, c *caller, in *In) (*Out, error)) handler {
	return func(s *Server, ctx context.Context, c *caller, body []byte) (any, error) {
		var in In
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := awsapi.Unmarshal(body, &in); err != nil {
				return nil, err
			}
		}
		if cd, ok := any(&in).(conditioner); ok {
			cd.conditions(c)
		}
		if authz.IdentityOnly[strings.TrimPrefix(c.Action, "kms:")] {
			if err := c.Identity("*"); err != nil {
				return nil, err
			}
		}
		out, err := f(s, ctx, c, &in)
		if err != nil {
			return nil, err
		}
		return out, nil
	}
}

// bind makes the handlers of one server; each request gets its caller, asking for kms:OPERATION.
// A successful cryptographic operation records the keys it used (lastusage.go).
func bind(s *Server, handlers map[string]handler) map[string]awsapi.Handler {
	hs := make(map[string]awsapi.Handler, len(handlers))
	for name, h := range handlers {
		action, tracked := "kms:"+name, lastuse.Tracked(name) // decided once, not per request
		hs[name] = func(ctx context.Context, c *awsapi.Caller, body []byte) (any, error) {
			out, err := h(s, ctx, s.newCaller(c, action), body)
			if err == nil && tracked {
				s.trackUsage(ctx, name, out)
			}
			return out, err
		}
	}
	return hs
}

// unsupported answers an operation of the model that hsmsim does not implement.
func unsupported(op string) *awsapi.Error {
	return awsapi.NewError(errUnsupported, "hsmsim does not support %s", op)
}

// empty is the answer of an operation without output members.
type empty struct{}
