package client

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// A write waits for what it touches, as a crypto read does: the login and the keys it names, not
// the session's newest write to anything else. So consecutive key creations sent to a follower
// do not each wait for the follower to apply the one before (up to Raft's commit timeout),
// while a write naming a key the session just made, and every lookup, still waits for it.
func TestWritesWaitForWhatTheyTouch(t *testing.T) {
	s := &Session{}
	seen := func(name string, req, reply any, i uint64) {
		raise(&s.index, i) // as try does, before learn
		s.learn(name, req, reply, nil, i)
	}
	seen("Login", &hsmpb.LoginRequest{}, &hsmpb.LoginResponse{}, 10)
	seen("GenerateKey", &hsmpb.GenerateKeyRequest{}, &hsmpb.HandleResponse{Handle: 7}, 20)
	seen("GenerateKey", &hsmpb.GenerateKeyRequest{}, &hsmpb.HandleResponse{Handle: 8}, 30)

	for _, c := range []struct {
		name string
		req  any
		want uint64
	}{
		{"GenerateKey", &hsmpb.GenerateKeyRequest{}, 10},
		{"GenerateKeyPair", &hsmpb.GenerateKeyPairRequest{}, 10},
		{"DestroyObject", &hsmpb.ObjectRequest{Handle: 7}, 20},
		{"SetAttributes", &hsmpb.SetAttributesRequest{Handle: 8}, 30},
		{"UnwrapKey", &hsmpb.UnwrapRequest{UnwrappingKey: 7}, 20},
		{"Sign", &hsmpb.CryptRequest{Key: 8}, 30},
		{"FindObjects", &hsmpb.FindRequest{}, 30},
		{"GetAttributes", &hsmpb.GetAttributesRequest{Handle: 7}, 30},
	} {
		if got := s.readIndex(c.name, c.req); got != c.want {
			t.Errorf("%s waits for index %d, want %d", c.name, got, c.want)
		}
	}

	// A key found (made by another session) is not used or destroyed older than it was found.
	seen("FindObjects", &hsmpb.FindRequest{}, &hsmpb.FindResponse{Handles: []uint32{7, 99, hsmpb.SessionHandleBit | 5}}, 35)
	for _, c := range []struct {
		name string
		req  any
		want uint64
	}{
		{"Sign", &hsmpb.CryptRequest{Key: 99}, 35},
		{"DestroyObject", &hsmpb.ObjectRequest{Handle: 99}, 35},
		{"DestroyObject", &hsmpb.ObjectRequest{Handle: 7}, 35},
		{"Sign", &hsmpb.CryptRequest{Key: hsmpb.SessionHandleBit | 5}, 10}, // on its own node, outside the log
	} {
		if got := s.readIndex(c.name, c.req); got != c.want {
			t.Errorf("after a find: %s of %v waits for index %d, want %d", c.name, c.req, got, c.want)
		}
	}

	// Reading attributes raises nothing (as a use that worked): key 8 stays at 30.
	seen("GetAttributes", &hsmpb.GetAttributesRequest{Handle: 8}, &hsmpb.GetAttributesResponse{}, 38)
	if got := s.readIndex("Sign", &hsmpb.CryptRequest{Key: 8}); got != 30 {
		t.Errorf("Sign after GetAttributes waits for %d, want 30", got)
	}

	// A user made by this session is part of its login: a write after it waits for it.
	seen("CreateUser", &hsmpb.CreateUserRequest{}, &hsmpb.Empty{}, 40)
	if got := s.readIndex("GenerateKey", &hsmpb.GenerateKeyRequest{}); got != 40 {
		t.Errorf("GenerateKey after CreateUser waits for %d, want 40", got)
	}
	// A credential adopted without its login index keeps the old rule.
	s.adopted.Store(true)
	seen("GenerateKey", &hsmpb.GenerateKeyRequest{}, &hsmpb.HandleResponse{Handle: 9}, 50)
	if got := s.readIndex("GenerateKey", &hsmpb.GenerateKeyRequest{}); got != 50 {
		t.Errorf("an adopted credential's write waits for %d, want the newest, 50", got)
	}
}
