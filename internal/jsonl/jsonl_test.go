package jsonl

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Whole lines are read from the offset given, a line without its newline is left for later,
// the offset returned is where the next read picks up, and a missing file reads as nothing.
func TestLinesReadsWholeLinesFromAnOffset(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log.jsonl")
	if err := os.WriteFile(p, []byte("{\"a\":1}\n{\"b\":2}\n{\"c\":"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	collect := func(l []byte) error { got = append(got, string(l)); return nil }
	off, err := Lines(p, 0, collect)
	if err != nil || off != 16 || len(got) != 2 || got[0] != `{"a":1}` || got[1] != `{"b":2}` {
		t.Fatalf("off %d, err %v, lines %q", off, err, got)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("3}\n")
	f.Close()
	got = nil
	if off, err = Lines(p, off, collect); err != nil || off != 24 || len(got) != 1 || got[0] != `{"c":3}` {
		t.Fatalf("after the line was finished: off %d, err %v, lines %q", off, err, got)
	}
	stop := errors.New("stop")
	if o, err := Lines(p, 0, func([]byte) error { return stop }); err != stop || o != 0 {
		t.Fatalf("fn's error: off %d, err %v", o, err)
	}
	if o, err := Lines(filepath.Join(t.TempDir(), "none"), 7, collect); err != nil || o != 7 {
		t.Fatalf("a missing file: off %d, err %v", o, err)
	}
}
