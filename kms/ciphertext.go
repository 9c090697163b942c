package kms

import (
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// The ciphertext blob, version 1 (CIPHERTEXT.md is the specification):
//
//	offset 0   1 byte    format version, 0x01 (0x02: the same layout for a multi-Region key)
//	offset 1   16 bytes  KMS key id (the UUID's 16 bytes; a multi-Region key's 32 hex digits)
//	offset 17  4 bytes   key material version, big endian, from 1
//	offset 21  12 bytes  AES-GCM nonce
//	offset 33  n+16      AES-256-GCM ciphertext of the n plaintext bytes, then the 16-byte tag
//
// The AAD is the first 21 bytes followed by the canonical encryption context, so the key, its
// material version and the context are all bound to the ciphertext; the nonce is not in the AAD
// because a custom key store's HSM chooses it during the encryption.

const (
	blobVersion1  = 0x01
	blobVersionMR = 0x02 // a multi-Region key: its id is mrk- and the 16 bytes in hex
	blobHeaderLen = 21
	blobNonceLen  = 12
	blobTagLen    = 16
	blobMinLen    = blobHeaderLen + blobNonceLen + blobTagLen
)

// blob is a parsed ciphertext.
type blob struct {
	KeyID   string
	Version uint32
	Nonce   []byte
	Sealed  []byte // ciphertext || tag
	header  []byte
}

// parseBlob splits a ciphertext; anything it cannot read is InvalidCiphertextException.
func parseBlob(b []byte) (*blob, *awsapi.Error) {
	if len(b) < blobMinLen || (b[0] != blobVersion1 && b[0] != blobVersionMR) {
		return nil, awsapi.NewError(errInvalidCiphertext, "")
	}
	v := binary.BigEndian.Uint32(b[17:21])
	if v == 0 {
		return nil, awsapi.NewError(errInvalidCiphertext, "")
	}
	id := awsapi.FormatUUID(b[1:17])
	if b[0] == blobVersionMR {
		id = multiRegionKeyPrefix + hex.EncodeToString(b[1:17])
	}
	return &blob{
		KeyID:   id,
		Version: v,
		Nonce:   b[blobHeaderLen : blobHeaderLen+blobNonceLen],
		Sealed:  b[blobHeaderLen+blobNonceLen:],
		header:  b[:blobHeaderLen],
	}, nil
}

// blobHeader is the first 21 bytes for key id and version.
func blobHeader(keyID string, version uint32) []byte {
	h := make([]byte, blobHeaderLen, blobHeaderLen+64)
	h[0] = blobVersion1
	if rest, ok := strings.CutPrefix(keyID, multiRegionKeyPrefix); ok {
		h[0], keyID = blobVersionMR, rest
	}
	id, _ := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	copy(h[1:17], id)
	binary.BigEndian.PutUint32(h[17:21], version)
	return h
}

// blobAAD is what AES-GCM authenticates besides the ciphertext.
func blobAAD(header []byte, ctx map[string]string) []byte {
	return append(append([]byte(nil), header...), canonicalContext(ctx)...)
}

// assembleBlob joins header, nonce and sealed bytes.
func assembleBlob(header, nonce, sealed []byte) []byte {
	out := make([]byte, 0, len(header)+len(nonce)+len(sealed))
	return append(append(append(out, header...), nonce...), sealed...)
}

// canonicalContext encodes an encryption context independently of map order: the number of
// pairs, then each pair sorted by key (bytewise), every count and length as a uvarint.
func canonicalContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		out = binary.AppendUvarint(out, uint64(len(k)))
		out = append(out, k...)
		out = binary.AppendUvarint(out, uint64(len(ctx[k])))
		out = append(out, ctx[k]...)
	}
	return out
}
