// Package localwire carries the node API's unary calls over a node's Unix socket without gRPC's
// HTTP/2 (issue 17). A PKCS#11 sign through gRPC between two processes on one host took about
// 0.28 ms, of which the signature is 0.03 ms and the kernel's round trip 0.04 ms: the rest was
// HTTP/2's framing and the goroutine hand-offs around it (a call's goroutine, the transport's
// writer, its reader, the server's handler: each a wake-up of another thread in the other
// process). Here the caller's goroutine writes its request and reads its answer on a connection
// it holds alone, and on the node one goroutine per connection reads a request, runs it and
// writes the answer, so a call costs two wake-ups (docs/BENCHMARKS.md has the figures).
//
// What a call carries is what the same call carries over gRPC, so everything above the wire is
// unchanged: the full method name, the metadata (credential, read-your-writes index,
// idempotency id), the deadline, the response header (the applied index), and a failure's
// google.rpc.Status with its details (the CK_RV). On the node the call goes through the same
// service handlers and the same interceptor as a gRPC call (Server implements
// grpc.ServiceRegistrar). The wire is offered on the node's Unix socket only, beside gRPC on
// the same socket (Mux tells the two apart by the first bytes a client sends), so the socket's
// trust model (hsmd/server/local.go) is the wire's: TLS stays on TCP.
//
// The protocol. A client connects and sends Preface; the node answers Preface when it admits
// the connection (it refuses one, by closing it, while the cluster enforces mutual TLS). Then
// each call is one frame each way, in turn: a 4-byte big-endian length and a
// hsmpb.LocalRequest, then the same for a hsmpb.LocalResponse. A connection carries one call at
// a time; a client that wants more calls in flight opens more connections (Pool). A frame
// longer than MaxFrame, or one that does not decode, ends the connection.
package localwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
)

// Preface is what each side sends first on a connection: the client to ask for the wire, the
// node to admit it. It is as long as HTTP/2's client preface, which Mux tells it from.
var Preface = []byte("hsmsim node api local/1\n")

// http2Preface opens every gRPC connection (RFC 9113 §3.4).
var http2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// MaxMessage is the largest request or response message, as the node's gRPC servers and
// clients allow (grpc.MaxRecvMsgSize 8 MiB); MaxFrame adds room for the envelope.
const (
	MaxMessage = 8 << 20
	MaxFrame   = MaxMessage + 64<<10
)

// errFrameTooLong ends a connection whose peer announced a frame past MaxFrame.
var errFrameTooLong = errors.New("localwire: frame longer than MaxFrame")

// writeFrame sends m as one frame in one write, reusing buf, which it returns grown.
func writeFrame(w io.Writer, buf []byte, m proto.Message) ([]byte, error) {
	buf = append(buf[:0], 0, 0, 0, 0)
	buf, err := proto.MarshalOptions{}.MarshalAppend(buf, m)
	if err != nil {
		return buf, err
	}
	n := len(buf) - 4
	if n > MaxFrame {
		return buf, errFrameTooLong
	}
	binary.BigEndian.PutUint32(buf, uint32(n))
	_, err = w.Write(buf)
	return buf, err
}

// readStep is how much of a frame's body readFrame reserves ahead of the bytes arriving, beyond
// a buffer already that large: a peer's length header alone then costs what the peer sends, not
// the up to MaxFrame it announces.
const readStep = 64 << 10

// readFrame reads one frame into m, reusing buf, which it returns grown. The message does not
// keep buf: protobuf copies what it decodes.
func readFrame(r *bufio.Reader, buf []byte, m proto.Message) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(head[:]))
	if n > MaxFrame {
		return buf, fmt.Errorf("%w: %d bytes", errFrameTooLong, n)
	}
	buf = buf[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			// Double what arrived so far, at least a step: a large frame costs a few
			// copies, and the buffer never runs more than a step (or what came) ahead.
			buf = slices.Grow(buf, min(n-len(buf), max(readStep, len(buf))))
		}
		k, err := io.ReadFull(r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+k]
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, proto.Unmarshal(buf, m)
}
