// Package ciphertext is the format of hsmsim's KMS ciphertext blobs (kms/CIPHERTEXT.md is the
// specification): the header that names the key and its material version, the AAD that binds them
// and the encryption context, and parsing, which refuses anything malformed. The KMS seals and
// opens the bytes with the key's material; this package only lays them out.
package ciphertext

import (
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// The blob, versions 1 and 2:
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
	version1  = 0x01
	versionMR = 0x02 // a multi-Region key: its id is mrk- and the 16 bytes in hex
	headerLen = 21
	NonceLen  = 12
	tagLen    = 16
	minLen    = headerLen + NonceLen + tagLen
)

// mrkPrefix begins the id of a multi-Region key.
const mrkPrefix = "mrk-"

// Blob is a parsed ciphertext.
type Blob struct {
	KeyID   string
	Version uint32
	Nonce   []byte
	Sealed  []byte // ciphertext || tag
	Header  []byte // the first 21 bytes, which the AAD begins with
}

// Parse splits a ciphertext; it reports false for anything it cannot read (the KMS answers
// InvalidCiphertextException).
func Parse(b []byte) (*Blob, bool) {
	if len(b) < minLen || (b[0] != version1 && b[0] != versionMR) {
		return nil, false
	}
	v := binary.BigEndian.Uint32(b[17:21])
	if v == 0 {
		return nil, false
	}
	id := awsapi.FormatUUID(b[1:17])
	if b[0] == versionMR {
		id = mrkPrefix + hex.EncodeToString(b[1:17])
	}
	return &Blob{
		KeyID:   id,
		Version: v,
		Nonce:   b[headerLen : headerLen+NonceLen],
		Sealed:  b[headerLen+NonceLen:],
		Header:  b[:headerLen],
	}, true
}

// Header is the first 21 bytes for key id and version.
func Header(keyID string, version uint32) []byte {
	h := make([]byte, headerLen, headerLen+64)
	h[0] = version1
	if rest, ok := strings.CutPrefix(keyID, mrkPrefix); ok {
		h[0], keyID = versionMR, rest
	}
	id, _ := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	copy(h[1:17], id)
	binary.BigEndian.PutUint32(h[17:21], version)
	return h
}

// AAD is what AES-GCM authenticates besides the ciphertext.
func AAD(header []byte, ctx map[string]string) []byte {
	return append(append([]byte(nil), header...), canonicalContext(ctx)...)
}

// Assemble joins header, nonce and sealed bytes.
func Assemble(header, nonce, sealed []byte) []byte {
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
