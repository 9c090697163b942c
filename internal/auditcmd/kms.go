// Package auditcmd is `hsmsim audit`: reading the audit logs a stack keeps. `hsmsim audit kms`
// reads the KMS's CloudTrail-shaped trail (package kms/trail) in a data directory, filters it
// and can follow it as it grows.
package auditcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/jsonl"
	"github.com/hsmsim/hsmsim/kms/trail"
)

// followEvery is how often --follow looks for new records (the trail writes every 20 ms).
const followEvery = 200 * time.Millisecond

// KMSCommand is `hsmsim audit kms`.
func KMSCommand() *cli.Command {
	return &cli.Command{
		Name:  "kms",
		Usage: "read the KMS's audit trail: CloudTrail-shaped records of every KMS API call",
		Description: `Reads DATA/kms/trail/*.jsonl of a "hsmsim up" (or "hsmsim kms") data directory, oldest
first, one line per KMS request: time, operation, outcome (ok or the AWS error), latency, caller
and the key it acted on. Secrets (plaintexts, data keys, passwords, ciphertexts) are never in the
trail. --json prints the records themselves; --follow waits for new ones until interrupted.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: ".data", EnvVars: []string{"HSMSIM_DATA"}, Usage: "the stack's data directory"},
			&cli.StringSliceFlag{Name: "event-name", Usage: "only these operations (Encrypt, CreateKey; repeat or comma-separate)"},
			&cli.BoolFlag{Name: "error-only", Usage: "only requests that failed"},
			&cli.StringFlag{Name: "since", Usage: "only records from this time (RFC 3339) or this long ago (10m)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing records as they are written"},
			&cli.BoolFlag{Name: "json", Usage: "print each record as its JSON line"},
		},
		Action: func(c *cli.Context) error {
			f, err := newFilter(c)
			if err != nil {
				return err
			}
			dir := embedded.TrailDir(c.String("data-dir"))
			if _, err := os.Stat(dir); err != nil {
				return fmt.Errorf("no KMS audit trail in %s: %w", c.String("data-dir"), err)
			}
			p := &printer{w: c.App.Writer, f: f, json: c.Bool("json")}
			return p.read(c.Context, dir, c.Bool("follow"))
		},
	}
}

type filter struct {
	names     map[string]bool
	errorOnly bool
	since     time.Time
}

func newFilter(c *cli.Context) (*filter, error) {
	f := &filter{errorOnly: c.Bool("error-only")}
	for _, v := range c.StringSlice("event-name") {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				if f.names == nil {
					f.names = map[string]bool{}
				}
				f.names[n] = true
			}
		}
	}
	if s := c.String("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			f.since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.since = t
		} else {
			return nil, fmt.Errorf("--since %q: neither a time (2006-01-02T15:04:05Z) nor a duration (10m)", s)
		}
	}
	return f, nil
}

func (f *filter) match(r *trail.Record) bool {
	return (f.names == nil || f.names[r.EventName]) && (!f.errorOnly || r.ErrorCode != "") && !r.EventTime.Before(f.since)
}

type printer struct {
	w    io.Writer
	f    *filter
	json bool
}

// read prints the matching records of every file, then with follow waits for more: new lines
// in the newest file, and the files begun when it fills.
func (p *printer) read(ctx context.Context, dir string, follow bool) error {
	files, err := trail.Files(dir)
	if err != nil {
		return err
	}
	var cur string
	var off int64
	for _, name := range files {
		cur, off = name, 0
		if off, err = p.readFrom(name, off); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(followEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if cur != "" {
			if off, err = p.readFrom(cur, off); err != nil {
				return err
			}
		}
		files, err := trail.Files(dir)
		if err != nil {
			return err
		}
		for _, name := range files {
			if name > cur {
				cur, off = name, 0
				if off, err = p.readFrom(name, off); err != nil {
					return err
				}
			}
		}
	}
}

// readFrom prints the matching whole lines of name from offset off and returns the offset after
// them (a line still being written is read next time; a file rotated away reads as nothing).
func (p *printer) readFrom(name string, off int64) (int64, error) {
	return jsonl.Lines(name, off, func(line []byte) error {
		var r trail.Record
		if json.Unmarshal(line, &r) != nil || !p.f.match(&r) {
			return nil
		}
		if p.json {
			_, _ = p.w.Write(append(line, '\n'))
			return nil
		}
		p.line(&r)
		return nil
	})
}

// line writes r in one line: time, operation, outcome, latency, caller, key.
func (p *printer) line(r *trail.Record) {
	outcome := "ok"
	if r.ErrorCode != "" {
		outcome = r.ErrorCode
	}
	var keys bytes.Buffer
	for i, res := range r.Resources {
		if i > 0 {
			keys.WriteByte(',')
		}
		keys.WriteString(res.ARN)
	}
	who := r.UserIdentity.ARN
	if who == "" {
		who = r.UserIdentity.Type
	}
	fmt.Fprintf(p.w, "%s  %-32s %-28s %9.3fms  %s  %s", r.EventTime.UTC().Format(time.RFC3339), r.EventName, outcome,
		r.AdditionalEventData.LatencyMillis, who, keys.String())
	if r.ErrorMessage != "" {
		fmt.Fprintf(p.w, "  %q", r.ErrorMessage)
	}
	fmt.Fprintln(p.w)
}
