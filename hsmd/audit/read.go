package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/internal/jsonl"
)

// decodeLines parses complete JSON lines.
func decodeLines(b []byte) ([]Event, error) {
	var out []Event
	for n := 1; len(b) > 0; n++ {
		i := bytes.IndexByte(b, '\n')
		line := b[:i]
		b = b[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadFile reads an audit file. A last line without its newline is one being written (or cut by
// a crash) and is left out. A missing file is an empty log.
func ReadFile(path string) ([]Event, error) {
	evs, _, err := readFrom(path, 0)
	return evs, err
}

// FindFiles lists the audit files under root (a node's data directory, or a directory holding
// many, as hsmsim up's), sorted.
func FindFiles(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (d.Name() == FileName || d.Name() == LocalFileName) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// Filter selects events; a zero field selects all.
type Filter struct {
	HSM    string
	User   string // the actor or the user the event is about
	Opcode string // case-insensitive; CN_ may be left out ("login" selects CN_LOGIN)
	Since  time.Time
}

// Match reports whether e passes the filter.
func (f Filter) Match(e Event) bool {
	if f.HSM != "" && e.HSM != f.HSM {
		return false
	}
	if f.User != "" && e.Actor != f.User && e.User != f.User {
		return false
	}
	if f.Opcode != "" {
		want := strings.ToUpper(f.Opcode)
		if e.Opcode != want && e.Opcode != "CN_"+want && e.Opcode != "HSMSIM_"+want {
			return false
		}
	}
	return f.Since.IsZero() || !e.Time.Before(f.Since)
}

// Read reads every file and returns the events that pass f, ordered by time (then HSM, scope,
// seq), as one reader of many HSMs wants them.
func Read(paths []string, f Filter) ([]Event, error) {
	var out []Event
	for _, p := range paths {
		evs, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if f.Match(e) {
				out = append(out, e)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case !a.Time.Equal(b.Time):
			return a.Time.Before(b.Time)
		case a.HSM != b.HSM:
			return a.HSM < b.HSM
		case a.Scope != b.Scope:
			return a.Scope < b.Scope
		}
		return a.Seq < b.Seq
	})
	return out, nil
}

// Follow calls fn for every event that passes f, file by file from the start of each, and then
// for every event appended to them (the files are polled every poll), until ctx is done.
// Starting from the start, not the end, leaves no window in which an event is missed. A file
// rewritten by a restore is read again from the start, skipping what was already reported.
func Follow(ctx context.Context, paths []string, f Filter, poll time.Duration, fn func(Event) error) error {
	type cursor struct {
		file os.FileInfo // the file read last: a restore renames a new one over it
		off  int64
		last uint64
	}
	cur := map[string]*cursor{}
	for _, p := range paths {
		cur[p] = &cursor{}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for _, p := range paths {
			c := cur[p]
			st, err := os.Stat(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return err
			}
			if c.file != nil && (!os.SameFile(c.file, st) || st.Size() < c.off) {
				c.off = 0 // rewritten: start over, skipping what was reported
			}
			c.file = st
			evs, off, err := readFrom(p, c.off)
			if err != nil {
				return err
			}
			c.off = off
			for _, e := range evs {
				if e.Seq <= c.last {
					continue
				}
				c.last = e.Seq
				if f.Match(e) {
					if err := fn(e); err != nil {
						return err
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// readFrom reads the complete lines of path from off and returns the offset after them.
func readFrom(path string, off int64) ([]Event, int64, error) {
	var evs []Event
	next, err := jsonl.Lines(path, off, func(line []byte) error {
		if len(bytes.TrimSpace(line)) == 0 {
			return nil
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		evs = append(evs, e)
		return nil
	})
	if err != nil {
		return nil, off, fmt.Errorf("audit: %s: %w", path, err)
	}
	return evs, next, nil
}
