package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/audit"
)

// The cluster layer's part of the audit log (package audit): membership changes and backup
// restores are replicated entries of this package, so it records their events, with the entry's
// Raft index as seq, before it commits them, as the token does for its commands.

// Auditor is what the FSM needs of the node's audit log.
type Auditor interface {
	Record([]audit.Event) error
	Tail(upTo uint64) audit.Tail
	Restore(audit.Tail) error
}

// auditTailField is the protobuf field number under which a snapshot carries the audit log's
// tail, appended to the encoded clusterpb.FSMSnapshot. It is kept out of cluster.proto's
// generated code on purpose: a node of an older version reads the snapshot and keeps the field
// as unknown, and this one finds it there (see snapshotAuditTail). 1000 is far above the
// message's own fields, which cluster.proto numbers from 1.
const auditTailField protowire.Number = 1000

func (f *FSM) recordMembers(l *raft.Log, e *clusterpb.MembershipEntry) error {
	if f.audit == nil {
		return nil
	}
	ev := audit.Event{Seq: l.Index, Opcode: audit.OpMemberRemove, Response: "CKR_OK", Member: e.GetDeleteId()}
	if p := e.GetPut(); p != nil {
		ev.Opcode, ev.Member, ev.AZ = audit.OpMemberAdd, p.Id, p.Az
	}
	return f.audit.Record([]audit.Event{ev})
}

func (f *FSM) recordRestore(l *raft.Log, e *clusterpb.RestoreEntry) error {
	if f.audit == nil {
		return nil
	}
	return f.audit.Record([]audit.Event{{Seq: l.Index, Opcode: audit.OpRestoreToken, Response: "CKR_OK",
		Detail: fmt.Sprintf("cluster %s restored from a backup", e.ClusterId)}})
}

// auditTail is the audit log's tail up to index, nil without an audit log.
func (f *FSM) auditTail(index uint64) *audit.Tail {
	if f.audit == nil {
		return nil
	}
	t := f.audit.Tail(index)
	return &t
}

// appendAuditTail adds an audit log's tail to an encoded snapshot.
func appendAuditTail(b []byte, t *audit.Tail) ([]byte, error) {
	if t == nil {
		return b, nil
	}
	tail, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, auditTailField, protowire.BytesType)
	return protowire.AppendBytes(b, tail), nil
}

// restoreAuditTail replaces the replicated audit log with the tail a snapshot carries. A
// snapshot without one (written before audit logs) leaves the log as it is.
func (f *FSM) restoreAuditTail(snap *clusterpb.FSMSnapshot) error {
	if f.audit == nil {
		return nil
	}
	unknown := snap.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return protowire.ParseError(n)
		}
		unknown = unknown[n:]
		if num != auditTailField || typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, unknown)
			if m < 0 {
				return protowire.ParseError(m)
			}
			unknown = unknown[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(unknown)
		if m < 0 {
			return protowire.ParseError(m)
		}
		var t audit.Tail
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("%w: snapshot audit tail: %v", ErrBadEntry, err)
		}
		return f.audit.Restore(t)
	}
	return nil
}
