package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/audit"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/store"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// entryKind is the first byte of every Raft log entry this package writes; the rest is the
// kind's payload. Values are stable forever; a removed kind is never reused.
type entryKind byte

const (
	// entryToken carries a token.Command encoding: a change of the token.
	entryToken entryKind = 1
	// entryMembers carries a clusterpb.MembershipEntry: member metadata (AZ, API address).
	entryMembers entryKind = 2
	// entryRestore carries a clusterpb.RestoreEntry: the whole token from a backup.
	entryRestore entryKind = 3
)

func encodeEntry(k entryKind, payload []byte) []byte {
	out := make([]byte, 0, 1+len(payload))
	return append(append(out, byte(k)), payload...)
}

// Store buckets of the cluster layer, in the node's store beside the token's.
const (
	bucketMembers = "cluster.members" // member id -> clusterpb.MemberRecord
	bucketMeta    = "cluster.meta"
)

// keyMembersIndex is the log index of the last membership entry (or restored snapshot) the
// bucketMembers content reflects, 8 bytes big-endian. Membership entries are not counted in the
// token's applied index; this index lets a replayed one be recognized.
var keyMembersIndex = []byte("members-index")

// applyResult is the state machine's answer to one log entry (ApplyFuture.Response()).
type applyResult struct {
	Result token.Result
	Index  uint64
	Err    error // set when the state machine has halted
}

// FSM is the cluster's Raft state machine: the node's token (token.State) plus the replicated
// member metadata. It is durable: every applied entry is in the node's bbolt store with its
// index, in the same transaction, so Raft is run with NoSnapshotRestoreOnStart and entries
// replayed after a restart are answered without being applied twice.
//
// A batch of token entries is applied with one token.State.ApplyBatch: one bbolt transaction
// and one fsync for up to MaxAppendEntries writes.
//
// An entry that does not decode, or a store that fails, halts the FSM: it answers every later
// entry with ErrHalted without touching the state, refuses to snapshot (so no snapshot claims
// entries it did not apply) and calls onFatal, which stops the member. It never skips an entry.
type FSM struct {
	state   func() *token.State
	st      *store.Store
	audit   Auditor // nil: no audit log (tests of the FSM alone)
	log     *slog.Logger
	onFatal func(error)

	mu           sync.RWMutex
	members      map[string]*clusterpb.MemberRecord
	membersIndex uint64

	lastIndex atomic.Uint64 // the last log index this FSM has seen, of any type
	fatalOnce sync.Once
	fatal     atomic.Pointer[error]
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// NodeState is what the FSM needs of an HSM node (server.Node has it).
type NodeState interface {
	State() *token.State
	Store() *store.Store
	Audit() *audit.Log
}

// NewFSM returns the state machine over node's token and store, loading the member metadata
// the store holds. onFatal is called once, in its own goroutine, if the FSM halts.
func NewFSM(node NodeState, log *slog.Logger, onFatal func(error)) (*FSM, error) {
	f := &FSM{state: node.State, st: node.Store(), log: log, onFatal: onFatal,
		members: map[string]*clusterpb.MemberRecord{}}
	if a := node.Audit(); a != nil {
		f.audit = a
	}
	err := f.st.ForEach(bucketMembers, func(k, v []byte) error {
		var r clusterpb.MemberRecord
		if err := proto.Unmarshal(v, &r); err != nil {
			return err
		}
		f.members[r.Id] = &r
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("cluster: loading members: %w", err)
	}
	switch b, err := f.st.Get(bucketMeta, keyMembersIndex); {
	case err == nil && len(b) == 8:
		f.membersIndex = binary.BigEndian.Uint64(b)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("cluster: loading members index: %w", err)
	}
	f.lastIndex.Store(f.DurableIndex())
	return f, nil
}

// DurableIndex is the highest log index whose effects are on disk: the token's applied index or
// the last membership change, whichever is later.
func (f *FSM) DurableIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return max(f.st.AppliedIndex(), f.membersIndex)
}

// LastIndex is the last log index the FSM has seen (applied, or skipped as not its business:
// configuration entries).
func (f *FSM) LastIndex() uint64 { return f.lastIndex.Load() }

// Err is the error that halted the FSM, nil while it runs.
func (f *FSM) Err() error {
	if p := f.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// Members returns the member metadata, sorted by id.
func (f *FSM) Members() []*clusterpb.MemberRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*clusterpb.MemberRecord, 0, len(f.members))
	for _, r := range f.members {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// Member returns one member's metadata.
func (f *FSM) Member(id string) (*clusterpb.MemberRecord, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, ok := f.members[id]
	return r, ok
}

func (f *FSM) halt(err error) {
	f.fatalOnce.Do(func() {
		err = fmt.Errorf("%w: %w", ErrHalted, err)
		f.fatal.Store(&err)
		f.log.Error("state machine halted; the node stops rather than diverge", "err", err)
		if f.onFatal != nil {
			go f.onFatal(err)
		}
	})
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: consecutive token entries go to the token in one
// ApplyBatch (one transaction); membership and restore entries are applied one at a time.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i := 0; i < len(logs); {
		if err := f.Err(); err != nil {
			for ; i < len(logs); i++ {
				out[i] = &applyResult{Index: logs[i].Index, Err: err}
			}
			break
		}
		l := logs[i]
		if l.Type != raft.LogCommand {
			// Configuration changes reach Raft's own configuration; the FSM only counts them.
			out[i] = &applyResult{Index: l.Index}
			f.lastIndex.Store(l.Index)
			i++
			continue
		}
		if len(l.Data) == 0 {
			f.halt(fmt.Errorf("%w: empty entry at index %d", ErrBadEntry, l.Index))
			continue
		}
		switch entryKind(l.Data[0]) {
		case entryToken:
			j := i
			for j < len(logs) && logs[j].Type == raft.LogCommand && len(logs[j].Data) > 0 && entryKind(logs[j].Data[0]) == entryToken {
				j++
			}
			f.applyToken(logs[i:j], out[i:j])
			i = j
		case entryMembers:
			out[i] = f.applyMembers(l)
			i++
		case entryRestore:
			out[i] = f.applyRestore(l)
			i++
		default:
			f.halt(fmt.Errorf("%w: kind %d at index %d", ErrBadEntry, l.Data[0], l.Index))
		}
	}
	return out
}

func (f *FSM) applyToken(logs []*raft.Log, out []any) {
	s := f.state()
	if s == nil {
		f.halt(fmt.Errorf("%w: token entry at index %d on a node without the cluster key", ErrBadEntry, logs[0].Index))
		return
	}
	entries := make([]token.Entry, len(logs))
	for k, l := range logs {
		entries[k] = token.Entry{Index: l.Index, Data: l.Data[1:]}
	}
	rs, err := s.ApplyBatch(entries)
	if err != nil {
		f.halt(err)
		return
	}
	for k, l := range logs {
		out[k] = &applyResult{Result: rs[k], Index: l.Index}
	}
	f.lastIndex.Store(logs[len(logs)-1].Index)
}

func (f *FSM) applyMembers(l *raft.Log) any {
	var e clusterpb.MembershipEntry
	if err := proto.Unmarshal(l.Data[1:], &e); err != nil || (e.GetPut() == nil && e.GetDeleteId() == "") {
		f.halt(fmt.Errorf("%w: membership entry at index %d: %v", ErrBadEntry, l.Index, err))
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastIndex.Store(l.Index)
	if l.Index <= f.membersIndex {
		return &applyResult{Index: l.Index} // replayed after a restart: already on disk
	}
	writes := []store.Write{{Bucket: bucketMeta, Key: keyMembersIndex, Value: indexBytes(l.Index)}}
	if p := e.GetPut(); p != nil {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			f.halt(err)
			return nil
		}
		writes = append(writes, store.Write{Bucket: bucketMembers, Key: []byte(p.Id), Value: b})
	} else {
		writes = append(writes, store.Write{Bucket: bucketMembers, Key: []byte(e.GetDeleteId())})
	}
	if err := f.recordMembers(l, &e); err != nil {
		f.halt(fmt.Errorf("%w: audit: %v", token.ErrStore, err))
		return nil
	}
	// Index 0: the token's applied index is not this entry's business; keyMembersIndex,
	// written in the same transaction, is.
	if err := f.st.Commit(0, writes); err != nil {
		f.halt(fmt.Errorf("%w: %v", token.ErrStore, err))
		return nil
	}
	if p := e.GetPut(); p != nil {
		f.members[p.Id] = p
	} else {
		delete(f.members, e.GetDeleteId())
	}
	f.membersIndex = l.Index
	return &applyResult{Index: l.Index}
}

func (f *FSM) applyRestore(l *raft.Log) any {
	s := f.state()
	var e clusterpb.RestoreEntry
	var snap hsmpb.Snapshot
	if err := proto.Unmarshal(l.Data[1:], &e); err != nil {
		f.halt(fmt.Errorf("%w: restore entry at index %d: %v", ErrBadEntry, l.Index, err))
		return nil
	}
	if err := proto.Unmarshal(e.TokenSnapshot, &snap); err != nil || s == nil {
		f.halt(fmt.Errorf("%w: restore entry at index %d: snapshot: %v", ErrBadEntry, l.Index, err))
		return nil
	}
	f.lastIndex.Store(l.Index)
	if l.Index <= s.Applied() {
		return &applyResult{Index: l.Index} // replayed after a restart
	}
	// The restored token continues this cluster's log: its index becomes this entry's, its
	// cluster id the new cluster's, and the source's logins do not carry over.
	snap.Index = l.Index
	if snap.Meta == nil {
		snap.Meta = &hsmpb.StoredMeta{NextHandle: 1}
	}
	snap.Meta.ClusterId = e.ClusterId
	snap.Logins = nil
	if err := f.recordRestore(l, &e); err != nil {
		f.halt(fmt.Errorf("%w: audit: %v", token.ErrStore, err))
		return nil
	}
	if err := s.Restore(&snap); err != nil {
		f.halt(err)
		return nil
	}
	f.mu.Lock()
	err := f.persistAfterRestore(f.membersAsSlice(), l.Index)
	f.mu.Unlock()
	if err != nil {
		f.halt(err)
		return nil
	}
	return &applyResult{Index: l.Index}
}

// persistAfterRestore makes the member metadata on disk what the restored state says: the
// records of the snapshot, and none of the members it does not know. f.mu held.
func (f *FSM) persistAfterRestore(members []*clusterpb.MemberRecord, index uint64) error {
	writes := []store.Write{{Bucket: bucketMeta, Key: keyMembersIndex, Value: indexBytes(index)}}
	keep := map[string]bool{}
	for _, r := range members {
		keep[r.Id] = true
	}
	for id := range f.members {
		if !keep[id] {
			writes = append(writes, store.Write{Bucket: bucketMembers, Key: []byte(id)})
		}
	}
	for _, r := range members {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			return err
		}
		writes = append(writes, store.Write{Bucket: bucketMembers, Key: []byte(r.Id), Value: b})
	}
	if err := f.st.Commit(0, writes); err != nil {
		return fmt.Errorf("%w: after restore: %v", token.ErrStore, err)
	}
	f.members = map[string]*clusterpb.MemberRecord{}
	for _, r := range members {
		f.members[r.Id] = r
	}
	f.membersIndex = index
	return nil
}

func (f *FSM) membersAsSlice() []*clusterpb.MemberRecord {
	out := make([]*clusterpb.MemberRecord, 0, len(f.members))
	for _, r := range f.members {
		out = append(out, r)
	}
	return out
}

func indexBytes(i uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return b[:]
}

// Snapshot implements raft.FSM. It captures the token (material sealed under the cluster key)
// and the member metadata; marshaling and writing happen in Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.Err(); err != nil {
		return nil, err
	}
	snap := &clusterpb.FSMSnapshot{Index: f.lastIndex.Load()}
	if s := f.state(); s != nil {
		ts, err := s.Snapshot()
		if err != nil {
			return nil, err
		}
		snap.TokenSnapshot, err = proto.MarshalOptions{Deterministic: true}.Marshal(ts)
		if err != nil {
			return nil, err
		}
	}
	snap.Members = f.Members()
	// Raft calls Snapshot between applies, so the audit log's tail is taken here, where it
	// ends at snap.Index; Persist runs later, concurrently with applies.
	return &fsmSnapshot{snap: snap, tail: f.auditTail(snap.Index)}, nil
}

type fsmSnapshot struct {
	snap *clusterpb.FSMSnapshot
	tail *audit.Tail
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	// The tail is encoded here, off the apply path, into the snapshot's own field.
	var b []byte
	tail, err := encodeAuditTail(s.tail)
	if err == nil {
		s.snap.AuditTail = tail
		b, err = proto.MarshalOptions{Deterministic: true}.Marshal(s.snap)
	}
	if err == nil {
		_, err = sink.Write(b)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// Restore implements raft.FSM: the whole state is replaced by a snapshot (a lagging follower
// catching up, or Member.Start finding the store behind the latest snapshot). A snapshot that
// does not decode or restore leaves the state as it was and returns the error (Raft retries).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	return f.restoreBytes(b)
}

func (f *FSM) restoreBytes(b []byte) error {
	if err := f.Err(); err != nil {
		return err
	}
	var snap clusterpb.FSMSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		return fmt.Errorf("%w: snapshot: %v", ErrBadEntry, err)
	}
	s := f.state()
	if s == nil {
		return fmt.Errorf("cluster: cannot restore a snapshot on a node without the cluster key")
	}
	if last := f.LastIndex(); snap.Index <= last && last > 0 {
		// The state already holds everything the snapshot does and later committed entries (a
		// leader's replication of a removed-and-re-added member can send a stale snapshot
		// after a newer one). Going back would leave this node behind until the next commit;
		// Raft replays the entries after the snapshot, which the FSM answers without applying.
		f.log.Info("snapshot older than the state; kept the state", "snapshot_index", snap.Index, "index", last)
		return nil
	}
	var ts hsmpb.Snapshot
	if err := proto.Unmarshal(snap.TokenSnapshot, &ts); err != nil {
		return fmt.Errorf("%w: token snapshot: %v", ErrBadEntry, err)
	}
	if err := s.Restore(&ts); err != nil {
		return err
	}
	if err := f.restoreAuditTail(&snap); err != nil {
		// The token is restored but its audit log is not: stop rather than go on with a log
		// that misses what the others have.
		f.halt(err)
		return err
	}
	f.mu.Lock()
	err := f.persistAfterRestore(snap.Members, snap.Index)
	f.mu.Unlock()
	if err != nil {
		// The token is restored but the member metadata is not: stop here.
		f.halt(err)
		return err
	}
	f.lastIndex.Store(snap.Index)
	f.log.Info("state restored from snapshot", "index", snap.Index, "token_index", ts.Index, "members", len(snap.Members))
	return nil
}

// snapshotIndex reads the FSM index recorded in a snapshot's payload.
func snapshotIndex(b []byte) (uint64, error) {
	var snap clusterpb.FSMSnapshot
	if err := proto.Unmarshal(b, &snap); err != nil {
		return 0, err
	}
	return snap.Index, nil
}
