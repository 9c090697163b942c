package localwire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// frame is m as the wire frames it.
func frame(m proto.Message) []byte {
	var w writerTo
	_, _ = writeFrame(&w, nil, m)
	return w.b.b
}

func seedFrames(f *testing.F) {
	body, _ := proto.Marshal(&healthpb.HealthCheckRequest{Service: "x"})
	f.Add(frame(&hsmpb.LocalRequest{Method: checkMethod, Body: body}))
	f.Add(frame(&hsmpb.LocalRequest{Method: checkMethod, Metadata: []string{"a"}, Body: body}))
	f.Add(frame(&hsmpb.LocalRequest{Method: checkMethod, TimeoutMicros: -5, Body: []byte{0xff}}))
	f.Add(frame(&hsmpb.LocalRequest{Method: "/x/y"}))
	f.Add(binary.BigEndian.AppendUint32(nil, MaxFrame+1))
	f.Add([]byte{0, 0, 0, 2, 0x0a})
	f.Add([]byte{})
}

// FuzzReadFrame: any bytes decode to a request or an error, never a panic, and what decodes
// frames back to a frame that decodes the same.
func FuzzReadFrame(f *testing.F) {
	seedFrames(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m hsmpb.LocalRequest
		if _, err := readFrame(bufio.NewReader(bytes.NewReader(b)), nil, &m); err != nil {
			return
		}
		var again hsmpb.LocalRequest
		if _, err := readFrame(bufio.NewReader(bytes.NewReader(frame(&m))), nil, &again); err != nil || !proto.Equal(&m, &again) {
			t.Fatalf("re-framed %v: %v, %v", &m, &again, err)
		}
	})
}

// FuzzServeConn: whatever a client sends after the preface, the server answers or closes that
// connection, and serves a good call on another connection after it.
func FuzzServeConn(f *testing.F) {
	seedFrames(f)
	s := NewServer(ServerConfig{})
	healthpb.RegisterHealthServer(s, serving{})
	f.Fuzz(func(t *testing.T, b []byte) {
		serve := func() net.Conn {
			client, server := net.Pipe()
			go s.serveConn(server)
			_ = client.SetDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, len(Preface))
			if _, err := io.ReadFull(client, got); err != nil {
				t.Fatal(err)
			}
			return client
		}
		bad := serve()
		go func() { _, _ = bad.Write(b); _ = bad.Close() }()
		_, _ = io.Copy(io.Discard, bad)

		good := serve()
		defer good.Close()
		body, _ := proto.Marshal(&healthpb.HealthCheckRequest{})
		if _, err := good.Write(frame(&hsmpb.LocalRequest{Method: checkMethod, Body: body})); err != nil {
			t.Fatal(err)
		}
		var resp hsmpb.LocalResponse
		if _, err := readFrame(bufio.NewReader(good), nil, &resp); err != nil || len(resp.Status) > 0 {
			t.Fatalf("the good call after the fuzzed one: %v %v", &resp, err)
		}
		var out healthpb.HealthCheckResponse
		if err := proto.Unmarshal(resp.Body, &out); err != nil || out.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("the good call's answer: %v %v", &out, err)
		}
	})
}

// serving answers every Check at once.
type serving struct {
	healthpb.UnimplementedHealthServer
}

func (serving) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}
