package pkcs11shim

import (
	"math/big"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Streaming multi-part encryption and decryption for the block modes that need no state on a
// node between calls: ECB, CBC, CBC_PAD and CTR (AES, DES3 and DES). Each C_EncryptUpdate or
// C_DecryptUpdate sends the whole blocks it has to a node, with the chaining value (CBC: the
// last ciphertext block so far) or the counter block (CTR: the first block's counter advanced
// by the blocks done) in place of the Init's IV, and returns their output, so a large input
// is processed in parts without the module holding it. What is not a whole block waits in the
// session for the next call or C_*Final; a CBC_PAD decryption also holds back its last whole
// block, since only C_DecryptFinal may strip the padding (v2.40 §5.9 lets C_DecryptUpdate
// return less than it was given). Other mechanisms (GCM, the AES key wraps as encryption,
// RSA X.509 in profile cloudhsm) keep buffering until C_*Final, within max_buffer.

// streamMode is how a mechanism chains its blocks.
type streamMode int

const (
	modeECB streamMode = iota
	modeCBC
	modeCTR
)

// streamable are the mechanisms that stream: their block size, their chaining, and for
// CBC_PAD the unpadded mechanism that runs the whole blocks of C_*Update.
var streamable = map[uint32]struct {
	block    int
	mode     streamMode
	unpadded uint32
}{
	p11.CKM_AES_ECB:      {16, modeECB, 0},
	p11.CKM_AES_CBC:      {16, modeCBC, 0},
	p11.CKM_AES_CBC_PAD:  {16, modeCBC, p11.CKM_AES_CBC},
	p11.CKM_AES_CTR:      {16, modeCTR, 0},
	p11.CKM_DES3_ECB:     {8, modeECB, 0},
	p11.CKM_DES3_CBC:     {8, modeCBC, 0},
	p11.CKM_DES3_CBC_PAD: {8, modeCBC, p11.CKM_DES3_CBC},
	p11.CKM_DES_ECB:      {8, modeECB, 0},
	p11.CKM_DES_CBC:      {8, modeCBC, 0},
	p11.CKM_DES_CBC_PAD:  {8, modeCBC, p11.CKM_DES_CBC},
}

// stream is a streaming operation's state between calls. The operation's mech carries the
// current chaining value or counter block; its buf holds the input not yet sent.
type stream struct {
	block    int
	mode     streamMode
	unpadded uint32 // CBC_PAD: the mechanism for whole blocks; 0: the operation's own
	holdLast bool   // CBC_PAD decryption keeps its last block for C_DecryptFinal
	total    int    // input taken so far, for profile cloudhsm's data limits
	ctrSpent bool   // CTR: every counter value has been used; more data would repeat one
}

// newStream is the stream of an encryption or decryption with mc, or nil when mc buffers.
func newStream(k opKind, mc ckm.Mechanism) *stream {
	s, ok := streamable[mc.Type]
	if !ok || (k != opEncrypt && k != opDecrypt) {
		return nil
	}
	return &stream{block: s.block, mode: s.mode, unpadded: s.unpadded, holdLast: s.unpadded != 0 && k == opDecrypt}
}

// updateOut is C_EncryptUpdate and C_DecryptUpdate after the argument checks: a streaming
// operation's output, or for a buffering one nothing (a length query reports 0 and keeps
// nothing).
func (s *session) updateOut(k opKind, in []byte, room uint64, query bool) ([]byte, error) {
	op, err := s.multiOp(k)
	if err != nil {
		return nil, err
	}
	if op.stream != nil {
		return s.streamUpdate(k, op, in, room, query)
	}
	if query {
		return nil, nil
	}
	return nil, s.update(k, in)
}

// ready is how many of n buffered bytes an Update sends now: the whole blocks, less the last
// one when it must wait for C_DecryptFinal.
func (st *stream) ready(n int) int {
	r := n - n%st.block
	if st.holdLast && r == n && r > 0 {
		r -= st.block
	}
	return r
}

// streamUpdate is C_EncryptUpdate and C_DecryptUpdate of a streaming operation. Its output is
// the output of the whole blocks sent. The output convention of v2.40 §5.2 holds: a length
// query (query) and a buffer too small for the output (room) consume nothing and keep the
// operation, the first answering CKR_OK and the second CKR_BUFFER_TOO_SMALL, each with the
// length; any other error ends the operation (§5.8, §5.9).
func (s *session) streamUpdate(k opKind, op *operation, in []byte, room uint64, query bool) ([]byte, error) {
	st := op.stream
	if err := s.m.checkDataLimit(k, op.mech, st.total+len(in)); err != nil {
		s.end(k)
		return nil, err
	}
	n := st.ready(len(op.buf) + len(in))
	if query {
		return make([]byte, n), nil
	}
	if uint64(n) > room {
		return make([]byte, n), errBufferTooSmall
	}
	data := append(append([]byte(nil), op.buf...), in...)
	op.multi = true
	st.total += len(in)
	if st.ctrSpent && len(data) > 0 {
		s.end(k)
		return nil, errCounterSpent(k)
	}
	if n == 0 {
		op.buf = data
		return nil, nil
	}
	send, rest := data[:n], data[n:]
	mc := op.mech
	if st.unpadded != 0 {
		mc = ckm.Mechanism{Type: st.unpadded, Param: op.mech.Param}
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	var out []byte
	var err error
	if k == opEncrypt {
		out, _, err = s.m.cl.Encrypt(ctx, mc, op.key, send)
	} else {
		out, err = s.m.cl.Decrypt(ctx, mc, op.key, send)
	}
	if err != nil {
		s.end(k)
		return nil, err
	}
	if len(out) != n {
		s.end(k)
		return nil, p11.Errorf(p11.CKR_DEVICE_ERROR, "the node answered %d bytes for %d", len(out), n)
	}
	switch st.mode {
	case modeCBC:
		// The next block chains on the last ciphertext block: the output's when encrypting,
		// the input's when decrypting.
		ct := out
		if k == opDecrypt {
			ct = send
		}
		op.mech.Param = ckm.IV(append([]byte(nil), ct[n-st.block:]...))
	case modeCTR:
		p, _ := op.mech.Param.(*ckm.CTRParams)
		if p == nil {
			s.end(k)
			return nil, p11.Error(p11.CKR_MECHANISM_PARAM_INVALID)
		}
		next, spent := advanceCounter(p, n/st.block)
		if spent && len(rest) > 0 {
			// The partial block left would need one more counter value at C_*Final.
			s.end(k)
			return nil, errCounterSpent(k)
		}
		op.mech.Param = next
		st.ctrSpent = spent
	}
	op.buf = append([]byte(nil), rest...)
	return out, nil
}

// advanceCounter is the counter block blocks further on: the low CounterBits bits of the block
// are the counter (v2.40 "AES with Counter"), the rest stays. spent says the counter went
// past its last value, which the node refuses to wrap (hsmd/mech's ctr), so no more data may
// follow; a 128-bit counter wraps modulo 2^128 as the node's does.
func advanceCounter(p *ckm.CTRParams, blocks int) (*ckm.CTRParams, bool) {
	bits := uint(p.CounterBits)
	limit := new(big.Int).Lsh(big.NewInt(1), bits)
	cb := new(big.Int).SetBytes(p.CB)
	low := new(big.Int).Mod(cb, limit)
	high := new(big.Int).Sub(cb, low)
	low.Add(low, big.NewInt(int64(blocks)))
	spent := low.Cmp(limit) >= 0 && bits < 128
	low.Mod(low, limit)
	next := make([]byte, len(p.CB))
	high.Add(high, low).FillBytes(next)
	return &ckm.CTRParams{CounterBits: p.CounterBits, CB: next}, spent
}

// errCounterSpent is more CTR data than the counter has values for: the length code of the
// operation (CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE), as the nodes answer a single
// part that would wrap the counter.
func errCounterSpent(k opKind) error {
	return p11.Errorf(lenRange(k), "CTR: every value of the counter has been used")
}
