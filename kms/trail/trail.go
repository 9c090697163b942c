// Package trail is the KMS's audit trail: a CloudTrail-shaped record (Record) of every KMS API
// call, as JSON lines in a directory (DATA/kms/trail/kms-NNNNNN.jsonl, a new file when one
// reaches Config.MaxFileBytes, the oldest removed beyond Config.MaxFiles), and the last records
// in memory (Recent) for the console. `hsmsim audit kms` reads the files (package
// internal/auditcmd).
//
// Secrets never reach a record. As AWS KMS does ("For security reasons, some fields are omitted
// from AWS KMS log entries, such as the Plaintext parameter of an Encrypt request, and the
// response to GetKeyPolicy or any cryptographic operation": Logging AWS KMS API calls with AWS
// CloudTrail, https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html),
// requestParameters leave out every member the API model marks sensitive or binary
// (awsapi.API.AppendParams), and responseElements are null for every read-only and
// cryptographic operation; the other operations' answers are written without the same members.
//
// The request path only queues: Trail is the endpoint's awsapi.Observer, and Observe copies
// what it needs into a bounded queue without blocking (a full queue drops the record and
// counts it: Dropped). One goroutine builds each record from the request as the endpoint
// already decoded it, encodes it without reflection and writes it through a buffer flushed
// each time it has drained the queue (every 20 ms), so a busy KMS pays little for its audit trail (bench/: BenchmarkKMSObserved).
package trail

import (
	"bufio"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Config shapes a Trail. Zero fields take their defaults.
type Config struct {
	Dir          string // where the files go (created 0700)
	MaxFileBytes int64  // a file this large is closed and a new one begun (default 32 MiB)
	MaxFiles     int    // files kept; older ones are removed (default 16)
	Queue        int    // records waiting for the writer (default 8192)
	Ring         int    // records Recent can return (default 1000)
	Logger       *slog.Logger
}

// FilePrefix and FileSuffix frame the trail's file names: kms-000001.jsonl, ...
const (
	FilePrefix = "kms-"
	FileSuffix = ".jsonl"
)

// event is what Observe queues: enough to build the record later.
type event struct {
	q       *awsapi.Request
	errType string
	errMsg  string
	elapsed time.Duration
	at      time.Time
	keys    []string // key ARNs or ids from the answer
	resp    []byte   // the answer as JSON, for operations whose responseElements are kept
}

// Trail is the KMS's audit trail.
type Trail struct {
	cfg     Config
	queue   chan event
	syncs   chan chan struct{}
	secret  map[string]bool
	written atomic.Uint64
	dropped atomic.Uint64
	done    chan struct{}
	stopped chan struct{} // closed when the writer has closed its file
	closing sync.Once

	mu   sync.Mutex // guards ring
	ring []Record
	next int
	full bool

	// writer goroutine only
	f    *os.File
	w    *bufio.Writer
	seq  int
	size int64
	buf  []byte
}

// Open starts a trail in cfg.Dir, continuing its newest file.
func Open(cfg Config) (*Trail, error) {
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 32 << 20
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 16
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 8192
	}
	if cfg.Ring <= 0 {
		cfg.Ring = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("trail: %w", err)
	}
	t := &Trail{cfg: cfg, queue: make(chan event, cfg.Queue), syncs: make(chan chan struct{}), secret: awsapi.KMS.SecretMembers(), done: make(chan struct{}),
		stopped: make(chan struct{}), ring: make([]Record, cfg.Ring)}
	// Members of answers only, secret as the model's inputs are.
	for _, m := range []string{"PrivateKeyPlaintext", "PrivateKeyCiphertextBlob", "KeyMaterial", "CiphertextForRecipient", "SharedSecret"} {
		t.secret[m] = true
	}
	files, err := Files(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if n := len(files); n > 0 {
		fmt.Sscanf(filepath.Base(files[n-1]), FilePrefix+"%d"+FileSuffix, &t.seq)
	}
	if err := t.openFile(max(t.seq, 1)); err != nil {
		return nil, err
	}
	go t.run()
	return t, nil
}

// Files lists the trail's files in dir, oldest first.
func Files(dir string) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(dir, FilePrefix+"*"+FileSuffix))
	sort.Strings(all) // zero-padded sequence numbers sort in order
	return all, err
}

func (t *Trail) openFile(seq int) error {
	name := filepath.Join(t.cfg.Dir, fmt.Sprintf("%s%06d%s", FilePrefix, seq, FileSuffix))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("trail: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("trail: %w", err)
	}
	t.f, t.seq, t.size = f, seq, fi.Size()
	if t.w == nil {
		t.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		t.w.Reset(f)
	}
	return nil
}

// Observe implements awsapi.Observer: it queues the KMS's requests (other services' are not
// KMS events) and returns at once.
func (t *Trail) Observe(q *awsapi.Request, out any, e *awsapi.Error, status int, elapsed time.Duration) {
	if q.Service != "kms" || status == 0 {
		return // a request a live fault answered never reached the KMS
	}
	ev := event{q: q, elapsed: elapsed, at: time.Now()}
	if e != nil {
		ev.errType, ev.errMsg = e.Type, e.Message
	} else if u, ok := out.(keyUser); ok {
		// The cryptographic operations, the bulk of the requests: their answers name their
		// keys, so the request path spends no reflection on them.
		key, source := u.UsedKeys()
		ev.keys = []string{key}
		if source != "" {
			ev.keys = append(ev.keys, source)
		}
	} else if out != nil {
		ev.keys = answerKeys(out)
		if !readOnly(q.Operation) {
			ev.resp, _ = json.Marshal(out) // management operations: rare, and their answers are small
		}
	}
	select {
	case t.queue <- ev:
	default:
		t.dropped.Add(1)
	}
}

var _ awsapi.Observer = (*Trail)(nil)

// Counts are the records written and dropped so far.
func (t *Trail) Counts() (written, dropped uint64) { return t.written.Load(), t.dropped.Load() }

// Sync waits until every record queued before it is in its file.
func (t *Trail) Sync() {
	ch := make(chan struct{})
	select {
	case t.syncs <- ch:
		<-ch
	case <-t.done:
	}
}

// Close writes what is queued and closes the file.
func (t *Trail) Close() error {
	t.closing.Do(func() {
		t.Sync()
		close(t.done)
		<-t.stopped
	})
	return nil
}

// Recent is the last n records (at most Config.Ring), oldest first.
func (t *Trail) Recent(n int) []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	have := t.next
	if t.full {
		have = len(t.ring)
	}
	n = min(n, have)
	out := make([]Record, 0, n)
	for i := t.next - n; i < t.next; i++ {
		out = append(out, t.ring[(i+len(t.ring))%len(t.ring)])
	}
	return out
}

// run is the writer. It wakes every drainEvery and writes what has been queued since, rather
// than once per record: on a busy KMS a wake-up per request would cost more than the record.
func (t *Trail) run() {
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	defer func() {
		t.flush()
		_ = t.f.Close()
		close(t.stopped)
	}()
	for {
		select {
		case ch := <-t.syncs:
			t.drain()
			t.flush()
			close(ch)
		case <-tick.C:
			if t.drain() > 0 || t.w.Buffered() > 0 {
				t.flush()
			}
		case <-t.done:
			return
		}
	}
}

// drainEvery is how often the writer takes what is queued (and flushes it).
const drainEvery = 20 * time.Millisecond

// drain writes every queued record and returns how many.
func (t *Trail) drain() int {
	for n := 0; ; n++ {
		select {
		case ev := <-t.queue:
			t.write(ev)
		default:
			return n
		}
	}
}

func (t *Trail) flush() {
	if err := t.w.Flush(); err != nil {
		t.cfg.Logger.Error("audit trail write failed", "err", err)
	}
}

func (t *Trail) write(ev event) {
	r := t.record(ev)
	t.mu.Lock()
	t.ring[t.next] = r
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
	t.mu.Unlock()
	t.buf = append(appendRecord(t.buf[:0], &r), '\n')
	if t.size > 0 && t.size+int64(len(t.buf)) > t.cfg.MaxFileBytes {
		t.rotate()
	}
	n, err := t.w.Write(t.buf)
	t.size += int64(n)
	if err != nil {
		t.cfg.Logger.Error("audit trail write failed", "err", err)
		return
	}
	t.written.Add(1)
}

// rotate closes the current file, begins the next and removes the oldest beyond MaxFiles.
func (t *Trail) rotate() {
	t.flush()
	_ = t.f.Close()
	if err := t.openFile(t.seq + 1); err != nil {
		t.cfg.Logger.Error("audit trail rotation failed", "err", err)
		return
	}
	files, _ := Files(t.cfg.Dir)
	for len(files) > t.cfg.MaxFiles {
		_ = os.Remove(files[0])
		files = files[1:]
	}
}

// record builds ev's record.
func (t *Trail) record(ev event) Record {
	q := ev.q
	r := Record{EventVersion: EventVersion, EventTime: ev.at, EventSource: EventSource, EventName: q.Operation,
		RequestID: q.RequestID, EventID: q.EventID(), ReadOnly: readOnly(q.Operation), EventType: "AwsApiCall",
		ManagementEvent: true, EventCategory: "Management", UserAgent: q.UserAgent, UserIdentity: identity(q.Caller),
		ErrorCode: ev.errType, ErrorMessage: ev.errMsg,
		AdditionalEventData: Additional{LatencyMillis: float64(ev.elapsed.Microseconds()) / 1000}}
	region, account := awsapi.DefaultRegion, ""
	if c := q.Caller; c != nil {
		r.SourceIPAddress, region, account = c.SourceIP, c.Region, c.Account
	}
	r.AWSRegion, r.RecipientAccountID = region, account
	r.RequestParameters = awsapi.KMS.AppendParams(make([]byte, 0, 256), q.Operation, q.Input)
	if len(ev.resp) > 0 {
		var v any
		if json.Unmarshal(ev.resp, &v) == nil && v != nil {
			r.ResponseElements = t.appendAnswer(nil, v)
		}
	}
	keys := ev.keys
	if len(keys) == 0 {
		for _, m := range []string{"KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"} {
			if s, ok := q.Input[m].(string); ok {
				keys = append(keys, s)
			}
		}
	}
	for _, k := range keys {
		if arn := keyARN(k, region, account); arn != "" {
			r.Resources = append(r.Resources, Resource{AccountID: account, Type: keyType, ARN: arn})
		}
	}
	return r
}

// keyARN is the ARN of a key named by its ARN or id; "" for an alias (not a key).
func keyARN(ref, region, account string) string {
	switch {
	case strings.HasPrefix(ref, "arn:"):
		if strings.Contains(ref, ":key/") {
			return ref
		}
		return ""
	case ref == "" || strings.HasPrefix(ref, "alias/"):
		return ""
	}
	return "arn:aws:kms:" + region + ":" + account + ":key/" + ref
}

// appendAnswer writes an answer as responseElements: lower camel case names, secret members
// left out, object members sorted.
func (t *Trail) appendAnswer(b []byte, v any) []byte {
	switch x := v.(type) {
	case map[string]any:
		b = append(b, '{')
		n := 0
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if t.secret[k] {
				continue
			}
			if n++; n > 1 {
				b = append(b, ',')
			}
			b = awsapi.AppendString(b, strings.ToLower(k[:1])+k[1:])
			b = append(b, ':')
			b = t.appendAnswer(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = t.appendAnswer(b, e)
		}
		return append(b, ']')
	}
	j, _ := json.Marshal(v)
	return append(b, j...)
}

// keyUser is the answer of a cryptographic operation as package kms makes it: it names the key
// the operation used (and ReEncrypt's source key), the keys GetKeyLastUsage tracks.
type keyUser interface{ UsedKeys() (key, source string) }

// answerKeys finds the keys any other answer names: its KeyId and SourceKeyId members (key ARNs in
// every KMS answer that has them), or the KeyMetadata's Arn (CreateKey, DescribeKey).
func answerKeys(out any) []string {
	v := reflect.ValueOf(out)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f := fieldsOf(v.Type())
	var keys []string
	for _, i := range f.keys {
		if s := v.Field(i).String(); s != "" {
			keys = append(keys, s)
		}
	}
	if f.meta >= 0 {
		m := v.Field(f.meta)
		if m.Kind() == reflect.Pointer && !m.IsNil() {
			m = m.Elem()
		}
		if m.Kind() == reflect.Struct {
			if a := m.FieldByName("Arn"); a.IsValid() && a.Kind() == reflect.String && a.String() != "" {
				keys = append(keys, a.String())
			}
		}
	}
	return keys
}

type answerFields struct {
	keys []int // string fields KeyId, SourceKeyId
	meta int   // the KeyMetadata field, or -1
}

var fieldCache sync.Map // reflect.Type → *answerFields

func fieldsOf(t reflect.Type) *answerFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*answerFields)
	}
	f := &answerFields{meta: -1}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		switch {
		case (sf.Name == "KeyId" || sf.Name == "SourceKeyId") && sf.Type.Kind() == reflect.String:
			f.keys = append(f.keys, i)
		case sf.Name == "KeyMetadata":
			f.meta = i
		}
	}
	fieldCache.Store(t, f)
	return f
}
