package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// File names in a node's data directory.
const (
	FileName      = "audit.jsonl"
	LocalFileName = "audit-local.jsonl"
)

// TailSize is how many of the latest cluster events a Log keeps in memory and a Raft snapshot
// carries, so that an HSM restored from a snapshot (a lagging or wiped one) ends with the same
// replicated log as the others for at least that many events.
const TailSize = 4096

// Options configure Open.
type Options struct {
	HSM string // this HSM's id, written in every event
	// NoSync skips fsync, as the node's store does (tests and benchmarks only).
	NoSync bool
	Now    func() time.Time // nil: time.Now
}

// Log is an open audit log: both files of one HSM. It is safe for concurrent use.
type Log struct {
	opts Options
	dir  string

	mu       sync.Mutex
	rep, loc *appender
	last     uint64 // last cluster seq in the file
	localSeq uint64 // last local seq
	// ring holds the latest cluster events, at most TailSize: once full, a circle whose oldest
	// event is at head, each new one taking the oldest one's place (shifting the slice instead
	// cost a copy of TailSize events, with their write barriers, per event applied).
	ring []Event
	head int
	from uint64 // ring holds every cluster event with seq > from
}

// Open opens (creating if needed) the audit log in dir. A last line cut short by a crash is
// dropped (the file is truncated to its last complete line): the command it recorded was not
// committed yet, or is re-recorded when the node replays its log.
func Open(dir string, opts Options) (*Log, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{opts: opts, dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep, evs, err := openAppender(filepath.Join(dir, FileName), opts.NoSync)
	if err != nil {
		return nil, err
	}
	loc, locEvs, err := openAppender(filepath.Join(dir, LocalFileName), opts.NoSync)
	if err != nil {
		rep.close()
		return nil, err
	}
	l.rep, l.loc = rep, loc
	for _, e := range locEvs {
		l.localSeq = e.Seq
		if e.Opcode == OpAuditGap {
			l.from = max(l.from, gapThrough(e))
		}
	}
	l.setRing(evs)
	return l, nil
}

// setRing loads the latest cluster events. l.mu held (or l not shared yet).
func (l *Log) setRing(evs []Event) {
	if n := len(evs); n > 0 {
		l.last = evs[n-1].Seq
	}
	if len(evs) > TailSize {
		l.from = max(l.from, evs[len(evs)-TailSize-1].Seq)
		evs = evs[len(evs)-TailSize:]
	}
	l.ring, l.head = append([]Event(nil), evs...), 0
}

// Last is the sequence number of the last cluster event recorded.
func (l *Log) Last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// Record appends cluster events (seq: the Raft index of each command, increasing) and makes
// them durable under the store's policy before it returns. Events at or below the last recorded
// seq are already in the file (a replay after a crash between the write and the commit) and are
// skipped.
func (l *Log) Record(evs []Event) error {
	wait, err := l.Write(evs)
	if err != nil {
		return err
	}
	return wait()
}

// Write is Record in two steps, for the state machine's apply path: it hands the events to the
// OS before it returns (a process crash after it loses nothing), and wait, which the caller
// calls after committing the commands, returns once they are on disk. The fsync runs meanwhile,
// alongside the store's own, so the apply path pays for one fsync's time, not two.
func (l *Log) Write(evs []Event) (wait func() error, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now().UTC()
	wrote := false
	for _, e := range evs {
		if e.Seq <= l.last {
			continue
		}
		e.Time, e.HSM, e.Scope = now, l.opts.HSM, ScopeCluster
		if err := l.rep.write(e); err != nil {
			return nil, err
		}
		l.last = e.Seq
		l.push(e)
		wrote = true
	}
	if !wrote {
		return noWait, nil
	}
	if err := l.rep.w.Flush(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if l.rep.noSync {
		return noWait, nil
	}
	done := make(chan error, 1)
	f := l.rep.f
	go func() { done <- f.Sync() }()
	return func() error { return <-done }, nil
}

func noWait() error { return nil }

func (l *Log) push(e Event) {
	if len(l.ring) < TailSize {
		l.ring = append(l.ring, e)
		return
	}
	l.from = l.ring[l.head].Seq
	l.ring[l.head] = e
	l.head = (l.head + 1) % TailSize
}

// RecordLocal appends an event of this HSM alone, numbered by the local counter.
func (l *Log) RecordLocal(e Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.localSeq++
	e.Seq, e.Time, e.HSM, e.Scope = l.localSeq, l.opts.Now().UTC(), l.opts.HSM, ScopeHSM
	if err := l.loc.write(e); err != nil {
		return err
	}
	return l.loc.flush()
}

// Tail is the end of the replicated log that a snapshot carries: every cluster event with
// From < seq, in order.
type Tail struct {
	From   uint64  `json:"from"`
	Events []Event `json:"events"`
}

// Tail returns the cluster events this HSM holds in memory with seq <= upTo.
func (l *Log) Tail(upTo uint64) Tail {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := Tail{From: l.from}
	for _, part := range [][]Event{l.ring[l.head:], l.ring[:l.head]} { // oldest first
		for _, e := range part {
			if e.Seq <= upTo {
				t.Events = append(t.Events, e)
			}
		}
	}
	return t
}

// Restore makes the replicated log what a snapshot says it is: this HSM's own events up to
// t.From, then the tail. If this HSM lacks events before the tail (it was more than TailSize
// events behind, or was wiped and the tail does not reach back to the start), that range is
// missing here and an HSMSIM_AUDIT_GAP event in the local log says so.
func (l *Log) Restore(t Tail) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rep.flush(); err != nil {
		return err
	}
	own, err := ReadFile(l.rep.path)
	if err != nil {
		return err
	}
	var kept []Event
	for _, e := range own {
		if e.Seq <= t.From {
			kept = append(kept, e)
		}
	}
	gap := t.From > 0 && (len(kept) == 0 || kept[len(kept)-1].Seq < t.From)
	for _, e := range t.Events {
		if e.Seq > t.From {
			e.HSM, e.Scope = l.opts.HSM, ScopeCluster
			kept = append(kept, e)
		}
	}
	if err := l.rep.rewrite(kept); err != nil {
		return err
	}
	l.last, l.from = 0, 0
	if gap {
		after := uint64(0)
		if len(own) > 0 {
			after = min(own[len(own)-1].Seq, t.From)
		}
		l.from = t.From
		l.localSeq++
		e := Event{Seq: l.localSeq, Time: l.opts.Now().UTC(), HSM: l.opts.HSM, Scope: ScopeHSM, Opcode: OpAuditGap,
			Response: "CKR_OK", Detail: fmt.Sprintf("cluster events after seq %d through %d are not in this HSM's log", after, t.From)}
		if err := l.loc.write(e); err != nil {
			return err
		}
		if err := l.loc.flush(); err != nil {
			return err
		}
	}
	l.setRing(kept)
	return nil
}

// gapThrough reads the upper end of an HSMSIM_AUDIT_GAP event's range.
func gapThrough(e Event) uint64 {
	var after, through uint64
	fmt.Sscanf(e.Detail, "cluster events after seq %d through %d", &after, &through)
	return through
}

// Close flushes and closes both files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(l.rep.close(), l.loc.close())
}

// appender is one append-only JSON-lines file.
type appender struct {
	path   string
	f      *os.File
	w      *bufio.Writer
	noSync bool
}

// openAppender opens path for appending and returns the events it holds, dropping a torn last
// line.
func openAppender(path string, noSync bool) (*appender, []Event, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	complete := bytes.LastIndexByte(b, '\n') + 1
	if complete < len(b) {
		if err := f.Truncate(int64(complete)); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("audit: dropping a torn last line: %w", err)
		}
	}
	evs, err := decodeLines(b[:complete])
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	if _, err := f.Seek(int64(complete), io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return &appender{path: path, f: f, w: bufio.NewWriterSize(f, 64<<10), noSync: noSync}, evs, nil
}

func (a *appender) write(e Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	a.w.Write(b)
	return a.w.WriteByte('\n')
}

// flush hands the buffer to the OS and, unless noSync, to the disk.
func (a *appender) flush() error {
	if err := a.w.Flush(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if a.noSync {
		return nil
	}
	return a.f.Sync()
}

// rewrite replaces the file with evs, atomically (a temporary file renamed over it).
func (a *appender) rewrite(evs []Event) error {
	tmp := a.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	n := &appender{path: a.path, f: f, w: bufio.NewWriterSize(f, 64<<10), noSync: a.noSync}
	for _, e := range evs {
		if err := n.write(e); err != nil {
			f.Close()
			return err
		}
	}
	err = n.w.Flush()
	if err == nil && !a.noSync {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, a.path)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: rewriting %s: %w", a.path, err)
	}
	a.f.Close()
	a.f, a.w = f, n.w
	return nil
}

func (a *appender) close() error {
	err := a.w.Flush()
	if !a.noSync && err == nil {
		err = a.f.Sync()
	}
	return errors.Join(err, a.f.Close())
}
