package kms

import (
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/ciphertext"
)

// The ciphertext blob's layout is package kms/ciphertext's (CIPHERTEXT.md); these are its names
// in the KMS, where an unreadable blob is InvalidCiphertextException.

var (
	blobHeader   = ciphertext.Header
	blobAAD      = ciphertext.AAD
	assembleBlob = ciphertext.Assemble
)

// blob is a parsed ciphertext.
type blob struct {
	*ciphertext.Blob
	header []byte
}

func parseBlob(b []byte) (*blob, *awsapi.Error) {
	p, ok := ciphertext.Parse(b)
	if !ok {
		return nil, awsapi.NewError(errInvalidCiphertext, "")
	}
	return &blob{Blob: p, header: p.Header}, nil
}
