package cluster

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

var fastKDF = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// openNode opens a node in dir holding ck, and an FSM over it.
func openNode(t *testing.T, dir string, ck *token.ClusterKey) (*server.Node, *FSM) {
	t.Helper()
	n, err := server.Open(server.Config{NodeID: "hsm-fsmtestnode1", AZ: "us-east-1a", DataDir: dir, NoSync: true, KDF: fastKDF,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if ck != nil && n.State() == nil {
		if err := n.InstallClusterKey(ck); err != nil {
			t.Fatal(err)
		}
	}
	f, err := NewFSM(n, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return n, f
}

func tokenEntry(t *testing.T, idx uint64, reqID string, msg proto.Message, typ token.CommandType) *raft.Log {
	t.Helper()
	b, err := token.Command{Type: typ, RequestID: reqID, Msg: msg}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: idx, Type: raft.LogCommand, Data: encodeEntry(entryToken, b)}
}

func memberEntry(t *testing.T, idx uint64, rec *clusterpb.MemberRecord) *raft.Log {
	b, err := proto.Marshal(&clusterpb.MembershipEntry{Change: &clusterpb.MembershipEntry_Put{Put: rec}})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: idx, Type: raft.LogCommand, Data: encodeEntry(entryMembers, b)}
}

// batch is a bootstrap, a configuration change, a member record and a user creation.
func batch(t *testing.T) []*raft.Log {
	h, err := token.HashPassword("adminpass1", fastKDF)
	if err != nil {
		t.Fatal(err)
	}
	return []*raft.Log{
		tokenEntry(t, 3, "", &hsmpb.CmdBootstrap{ClusterId: "cluster-abcdefghijk", AdminHash: h, Label: "t"}, token.CmdBootstrap),
		{Index: 4, Type: raft.LogConfiguration},
		memberEntry(t, 5, &clusterpb.MemberRecord{Id: "hsm-abcdefghijk", Az: "us-east-1a", ApiAddr: "a:1", RaftAddr: "a:2"}),
		tokenEntry(t, 6, "req-1", &hsmpb.CmdCreateUser{Actor: "", Name: "bob", Role: hsmpb.Role_ROLE_CRYPTO_USER, Hash: h}, token.CmdCreateUser),
	}
}

func TestFSMAppliesMixedBatchesAndAnswersReplaysWithoutReapplying(t *testing.T) {
	ck, _ := token.NewClusterKey()
	dir := t.TempDir()
	n, f := openNode(t, dir, ck)
	logs := batch(t)
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d responses for %d entries", len(out), len(logs))
	}
	for i, r := range out {
		a := r.(*applyResult)
		if a.Err != nil || a.Index != logs[i].Index {
			t.Fatalf("entry %d: %+v", logs[i].Index, a)
		}
	}
	first := out[3].(*applyResult).Result
	if f.LastIndex() != 6 || n.State().Applied() != 6 || len(f.Members()) != 1 {
		t.Fatalf("last %d applied %d members %d", f.LastIndex(), n.State().Applied(), len(f.Members()))
	}
	digest, _ := n.State().Digest()
	n.Close()

	// After a restart Raft replays from its last snapshot: the FSM answers without applying.
	n2, f2 := openNode(t, dir, nil)
	defer n2.Close()
	if f2.DurableIndex() != 6 || len(f2.Members()) != 1 {
		t.Fatalf("after reopen: durable %d members %v", f2.DurableIndex(), f2.Members())
	}
	out = f2.ApplyBatch(batch(t))
	if r := out[3].(*applyResult).Result; r.RV != first.RV || len(r.Handles) != len(first.Handles) {
		t.Fatalf("replayed entry answered %+v, first time %+v", r, first)
	}
	if d, _ := n2.State().Digest(); !bytes.Equal(d, digest) || n2.State().Applied() != 6 {
		t.Fatal("a replay changed the state")
	}
}

func TestFSMHaltsOnAnUnknownEntryKindAndRefusesToSnapshot(t *testing.T) {
	ck, _ := token.NewClusterKey()
	n, f := openNode(t, t.TempDir(), ck)
	defer n.Close()
	halted := make(chan error, 1)
	f.onFatal = func(err error) { halted <- err }
	logs := append(batch(t)[:1], &raft.Log{Index: 4, Type: raft.LogCommand, Data: []byte{77, 1, 2}},
		tokenEntry(t, 5, "", &hsmpb.CmdLogout{LoginId: "x"}, token.CmdLogout))
	out := f.ApplyBatch(logs)
	if err := <-halted; err == nil {
		t.Fatal("no fatal error")
	}
	if a := out[2].(*applyResult); a.Err == nil {
		t.Fatal("the entry after the bad one was answered as applied")
	}
	if n.State().Applied() != 3 {
		t.Fatalf("applied %d, want 3 (the entry before the bad one)", n.State().Applied())
	}
	if _, err := f.Snapshot(); err == nil {
		t.Fatal("a halted FSM took a snapshot")
	}
}

type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoresIntoAnotherNodeThatStillOpensAfterRestart(t *testing.T) {
	ck, _ := token.NewClusterKey()
	a, fa := openNode(t, t.TempDir(), ck)
	defer a.Close()
	fa.ApplyBatch(batch(t))
	snap, err := fa.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil || sink.canceled {
		t.Fatal(err)
	}
	if bytes.Contains(sink.Bytes(), ck.Bytes()) {
		t.Fatal("the cluster key is in the snapshot")
	}

	dir := t.TempDir()
	b, fb := openNode(t, dir, ck)
	if err := fb.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	da, _ := a.State().Digest()
	db, _ := b.State().Digest()
	if !bytes.Equal(da, db) || len(fb.Members()) != 1 || fb.LastIndex() != 6 {
		t.Fatalf("restored: digest equal %v, members %v, last %d", bytes.Equal(da, db), fb.Members(), fb.LastIndex())
	}
	b.Close()
	// The token restore replaced every bucket of the store; the node's cluster key record and
	// the member records were written back, so the node opens its token after a restart.
	b2, fb2 := openNode(t, dir, nil)
	defer b2.Close()
	if b2.State() == nil {
		t.Fatal("after a restore and a restart the node has no cluster key")
	}
	if d, _ := b2.State().Digest(); !bytes.Equal(d, da) || len(fb2.Members()) != 1 || fb2.DurableIndex() != 6 {
		t.Fatal("restored state did not survive a restart")
	}
}

// TestDefaultLogRetentionIsSmall: a member configured without a snapshot policy hands Raft the
// cluster's own (DefaultSnapshotThreshold, DefaultTrailingLogs), not Raft's 8,192 / 10,240, which
// kept over 10,000 key creations in every member's raft.db after compaction, as large as the
// token itself; a policy that is set is passed as it is.
func TestDefaultLogRetentionIsSmall(t *testing.T) {
	m := &Member{cfg: Config{Timeouts: DefaultTimeouts()}}
	c := m.raftConfig()
	if c.SnapshotThreshold != DefaultSnapshotThreshold || c.TrailingLogs != DefaultTrailingLogs {
		t.Errorf("zero policy: Raft got threshold %d, trailing %d; want %d, %d", c.SnapshotThreshold, c.TrailingLogs, DefaultSnapshotThreshold, DefaultTrailingLogs)
	}
	if DefaultTrailingLogs > 2048 || DefaultSnapshotThreshold > 4096 {
		t.Errorf("defaults %d / %d keep more log than a token of 16,666 keys needs", DefaultSnapshotThreshold, DefaultTrailingLogs)
	}
	m = &Member{cfg: Config{Timeouts: DefaultTimeouts(), SnapshotThreshold: 64, TrailingLogs: 32}}
	if c := m.raftConfig(); c.SnapshotThreshold != 64 || c.TrailingLogs != 32 {
		t.Errorf("set policy: Raft got threshold %d, trailing %d; want 64, 32", c.SnapshotThreshold, c.TrailingLogs)
	}
}
