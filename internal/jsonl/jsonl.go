// Package jsonl reads append-only JSON-lines files as their writers leave them: whole lines
// only, so a reader that follows a file (hsmsim audit --follow) never sees a line half written.
// The HSMs' audit logs (hsmd/audit) and the KMS's audit trail (kms/trail) are such files.
package jsonl

import (
	"bufio"
	"io"
	"os"
)

// Lines calls fn with each complete line of the file at path from byte offset off, without its
// newline, and returns the offset after the last complete line: where the next read starts. A
// last line without its newline is one being written (or cut by a crash) and is left for the
// next read. A file that does not exist (not yet made, or rotated away) reads as no lines. An
// error from fn stops the reading and is returned with the offset after the lines before it.
func Lines(path string, off int64, fn func(line []byte) error) (int64, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return off, nil
	}
	if err != nil {
		return off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return off, nil // nothing more, or a line not yet whole
		}
		if err != nil {
			return off, err
		}
		if err := fn(line[:len(line)-1]); err != nil {
			return off, err
		}
		off += int64(len(line))
	}
}
