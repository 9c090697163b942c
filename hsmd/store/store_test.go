package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustGet(t *testing.T, s *Store, bucket, key string) []byte {
	t.Helper()
	v, err := s.Get(bucket, []byte(key))
	if err != nil {
		t.Fatalf("Get(%q, %q): %v", bucket, key, err)
	}
	return v
}

// writeRaw puts bytes into a data bucket behind the store's back, as an
// attacker or a disk fault would.
func writeRaw(t testing.TB, s *Store, bucket string, key, raw []byte) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
	if err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func readRaw(t testing.TB, s *Store, bucket string, key []byte) []byte {
	t.Helper()
	var out []byte
	s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			out = bytes.Clone(b.Get(key))
		}
		return nil
	})
	if out == nil {
		t.Fatalf("raw read %q/%q: absent", bucket, key)
	}
	return out
}

func TestOpenCreatesFilesWithModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	openTest(t, dir)
	for name, want := range map[string]fs.FileMode{".": 0o700, keyFileName: 0o600, dbFileName: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	if len(key) != nodeKeySize {
		t.Errorf("node.key is %d bytes, want %d", len(key), nodeKeySize)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want node.key and hsm.db only", len(entries))
	}
}

func TestCommitPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	if got := s.AppliedIndex(); got != 0 {
		t.Fatalf("new store: applied %d, want 0", got)
	}
	err := s.Commit(5, []Write{
		{Bucket: "objects", Key: []byte("h1"), Value: []byte("key one")},
		{Bucket: "objects", Key: []byte("h2"), Value: []byte("key two")},
		{Bucket: "users", Key: []byte("alice"), Value: []byte{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(7, []Write{{Bucket: "objects", Key: []byte("h2")}}); err != nil { // delete
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	if got := s.AppliedIndex(); got != 7 {
		t.Errorf("after reopen: applied %d, want 7", got)
	}
	if got := mustGet(t, s, "objects", "h1"); string(got) != "key one" {
		t.Errorf("h1 = %q", got)
	}
	if _, err := s.Get("objects", []byte("h2")); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted h2: err %v, want ErrNotFound", err)
	}
	if got := mustGet(t, s, "users", "alice"); got == nil || len(got) != 0 {
		t.Errorf("empty value = %#v, want non-nil empty", got)
	}
	if _, err := s.Get("nobucket", []byte("x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent bucket: err %v, want ErrNotFound", err)
	}
}

func TestGetReturnsCopies(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Commit(1, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("value")}}); err != nil {
		t.Fatal(err)
	}
	v := mustGet(t, s, "b", "k")
	v[0] = 'X'
	if got := mustGet(t, s, "b", "k"); string(got) != "value" {
		t.Errorf("modifying a returned value changed the store: %q", got)
	}
}

func TestFailedCommitChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	if err := s.Commit(1, []Write{{Bucket: "objects", Key: []byte("a"), Value: []byte("v1")}}); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		write Write
	}{
		{"reserved bucket", Write{Bucket: "_meta", Key: []byte("applied"), Value: []byte("xxxxxxxx")}},
		{"empty bucket", Write{Bucket: "", Key: []byte("k"), Value: []byte("v")}},
		{"NUL in bucket", Write{Bucket: "a\x00b", Key: []byte("k"), Value: []byte("v")}},
		{"empty key", Write{Bucket: "objects", Key: nil, Value: []byte("v")}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			// The bad write sits between good ones: the good write before it
			// reached bbolt inside the transaction and must be rolled back.
			err := s.Commit(2, []Write{
				{Bucket: "objects", Key: []byte("a"), Value: []byte("v2")},
				{Bucket: "newbucket", Key: []byte("n"), Value: []byte("new")},
				tc.write,
				{Bucket: "objects", Key: []byte("c"), Value: []byte("v3")},
			})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Commit: err %v, want ErrInvalid", err)
			}
			if got := s.AppliedIndex(); got != 1 {
				t.Errorf("applied %d after failed commit, want 1", got)
			}
			if got := mustGet(t, s, "objects", "a"); string(got) != "v1" {
				t.Errorf("a = %q after failed commit, want v1", got)
			}
			if _, err := s.Get("newbucket", []byte("n")); !errors.Is(err, ErrNotFound) {
				t.Errorf("newbucket/n: err %v, want ErrNotFound", err)
			}
		})
	}
	// And on disk, not just in memory.
	s.Close()
	s = openTest(t, dir)
	if got := s.AppliedIndex(); got != 1 {
		t.Errorf("applied %d after reopen, want 1", got)
	}
	_, data, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]KV{"objects": {{Key: []byte("a"), Value: []byte("v1")}}}
	if !reflect.DeepEqual(data, want) {
		t.Errorf("Dump after failed commits = %v, want %v", data, want)
	}
}

func TestStaleIndexRefused(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Commit(10, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("ten")}}); err != nil {
		t.Fatal(err)
	}
	for _, idx := range []uint64{10, 9, 1} {
		err := s.Commit(idx, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("stale")}})
		if !errors.Is(err, ErrStaleIndex) {
			t.Errorf("Commit(%d): err %v, want ErrStaleIndex", idx, err)
		}
	}
	if got := mustGet(t, s, "b", "k"); string(got) != "ten" {
		t.Errorf("value %q after stale commits, want ten", got)
	}
	// Index 0 is a local-only write: applied, index untouched.
	if err := s.Commit(0, []Write{{Bucket: "session", Key: []byte("s"), Value: []byte("local")}}); err != nil {
		t.Fatalf("local-only Commit(0): %v", err)
	}
	if got := s.AppliedIndex(); got != 10 {
		t.Errorf("applied %d after Commit(0), want 10", got)
	}
	// An empty batch still advances the index (a command that changed nothing).
	if err := s.Commit(12, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.AppliedIndex(); got != 12 {
		t.Errorf("applied %d after empty Commit(12), want 12", got)
	}
}

func TestReplaceDumpRoundTrip(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Commit(3, []Write{
		{Bucket: "old", Key: []byte("gone"), Value: []byte("x")},
		{Bucket: "objects", Key: []byte("stale"), Value: []byte("x")},
	}); err != nil {
		t.Fatal(err)
	}
	snap := map[string][]KV{
		"objects": {{Key: []byte("h1"), Value: []byte("one")}, {Key: []byte("h2"), Value: []byte("two")}},
		"users":   {{Key: []byte("alice"), Value: []byte("pw")}},
		"empty":   {},
	}
	// Restore may move the index backwards: the snapshot is the new truth.
	if err := s.Replace(2, snap); err != nil {
		t.Fatal(err)
	}
	if got := s.AppliedIndex(); got != 2 {
		t.Errorf("applied %d after Replace, want 2", got)
	}
	// Buckets the snapshot names are replaced whole ("stale" is gone); a bucket it does not
	// name ("old", as the node's own records) is left alone.
	idx, data, err := s.Dump()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]KV{"old": {{Key: []byte("gone"), Value: []byte("x")}}}
	for b, kvs := range snap {
		want[b] = kvs
	}
	if idx != 2 || !reflect.DeepEqual(data, want) {
		t.Errorf("Dump = %d, %v; want 2, %v", idx, data, want)
	}
	delete(data, "old")

	// A dump loads into another store unchanged (snapshot install on a follower).
	other := openTest(t, t.TempDir())
	if err := other.Replace(idx, data); err != nil {
		t.Fatal(err)
	}
	idx2, data2, err := other.Dump()
	if err != nil {
		t.Fatal(err)
	}
	if idx2 != idx || !reflect.DeepEqual(data2, data) {
		t.Errorf("second store Dump = %d, %v; want %d, %v", idx2, data2, idx, data)
	}

	// ForEach sees the same records in key order.
	var keys []string
	s.ForEach("objects", func(k, v []byte) error { keys = append(keys, string(k)+"="+string(v)); return nil })
	if strings.Join(keys, ",") != "h1=one,h2=two" {
		t.Errorf("ForEach = %v", keys)
	}
}

func TestReplaceRejectsBadInputAndChangesNothing(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Commit(4, []Write{{Bucket: "objects", Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]map[string][]KV{
		"reserved":  {"_meta": {{Key: []byte("applied"), Value: []byte("x")}}},
		"dup key":   {"objects": {{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("a"), Value: []byte("2")}}},
		"empty key": {"objects": {{Key: []byte{}, Value: []byte("1")}}},
	} {
		if err := s.Replace(9, data); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
	idx, data, _ := s.Dump()
	if idx != 4 || len(data) != 1 || string(data["objects"][0].Value) != "v" {
		t.Errorf("after rejected Replace: %d, %v", idx, data)
	}
}

func TestForEachOrderAndCallbackMayWrite(t *testing.T) {
	s := openTest(t, t.TempDir())
	var ws []Write
	for _, k := range []string{"c", "a", "b", "aa"} {
		ws = append(ws, Write{Bucket: "b", Key: []byte(k), Value: []byte("v" + k)})
	}
	if err := s.Commit(1, ws); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.ForEach("b", func(k, v []byte) error {
		got = append(got, string(k))
		// Writing from the callback must not deadlock (it runs outside the read txn).
		return s.Commit(0, []Write{{Bucket: "other", Key: k, Value: v}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,aa,b,c" {
		t.Errorf("order %v, want a,aa,b,c", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.ForEach("b", func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("callback error: got %v after %d calls, want stop after 1", err, n)
	}
	if err := s.ForEach("absent", func(k, v []byte) error { t.Error("called"); return nil }); err != nil {
		t.Errorf("absent bucket: %v", err)
	}
}

func TestMovedValueFailsToOpen(t *testing.T) {
	s := openTest(t, t.TempDir())
	if err := s.Commit(1, []Write{
		{Bucket: "objects", Key: []byte("secret"), Value: []byte("the key material")},
		{Bucket: "objects", Key: []byte("public"), Value: []byte("nothing to see")},
	}); err != nil {
		t.Fatal(err)
	}
	raw := readRaw(t, s, "objects", []byte("secret"))
	writeRaw(t, s, "objects", []byte("public"), raw) // another key, same bucket
	writeRaw(t, s, "stolen", []byte("secret"), raw)  // same key, another bucket
	for _, rec := range [][2]string{{"objects", "public"}, {"stolen", "secret"}} {
		if _, err := s.Get(rec[0], []byte(rec[1])); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Get(%s/%s) of a moved value: err %v, want ErrCorrupt", rec[0], rec[1], err)
		}
	}
	if err := s.ForEach("objects", func(k, v []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ForEach: err %v, want ErrCorrupt", err)
	}
	if _, _, err := s.Dump(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Dump: err %v, want ErrCorrupt", err)
	}
	// The record in its own place still opens.
	if got := mustGet(t, s, "objects", "secret"); string(got) != "the key material" {
		t.Errorf("original = %q", got)
	}
}

func TestWrongNodeKeyRefused(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	s.Commit(1, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("v")}})
	s.Close()

	other := make([]byte, nodeKeySize)
	rand.Read(other)
	if err := os.WriteFile(filepath.Join(dir, keyFileName), other, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{NoSync: true}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open with another node key: err %v, want ErrCorrupt", err)
	}
	os.Remove(filepath.Join(dir, keyFileName))
	if _, err := Open(dir, Options{NoSync: true}); err == nil {
		t.Error("Open with node.key missing and hsm.db present succeeded; want an error, not a new key")
	}
	if _, err := os.Stat(filepath.Join(dir, keyFileName)); err == nil {
		t.Error("Open created a new node.key next to an existing hsm.db")
	}
}

func TestClosedStoreRefusesEverything(t *testing.T) {
	s, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(3, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"Commit":  s.Commit(4, []Write{{Bucket: "b", Key: []byte("k"), Value: []byte("v")}}),
		"Get":     func() error { _, err := s.Get("b", []byte("k")); return err }(),
		"ForEach": s.ForEach("b", func(k, v []byte) error { return nil }),
		"Replace": s.Replace(5, nil),
		"Dump":    func() error { _, _, err := s.Dump(); return err }(),
		"Close":   s.Close(),
	}
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: err %v, want ErrClosed", name, err)
		}
	}
	if got := s.AppliedIndex(); got != 3 {
		t.Errorf("AppliedIndex after Close = %d, want last value 3", got)
	}
}

// TestNoPlaintextOnDisk is the at-rest guarantee (DESIGN rule 3): after 200
// secrets are committed, no file of the data directory but node.key contains
// any of them, raw or in a text encoding.
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	secrets := make([][]byte, 200)
	for i := range secrets {
		secrets[i] = make([]byte, 32)
		rand.Read(secrets[i])
		// Spread over several commits and two buckets, overwrite some, so
		// bbolt reuses and frees pages as it would in service.
		if err := s.Commit(uint64(i+1), []Write{
			{Bucket: "objects", Key: fmt.Appendf(nil, "handle-%d", i), Value: secrets[i]},
			{Bucket: "wrapped", Key: fmt.Appendf(nil, "w-%d", i%17), Value: secrets[i]},
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var files int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == keyFileName {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		lower := bytes.ToLower(data)
		for i, sec := range secrets {
			forms := map[string][]byte{
				"raw":       sec,
				"hex":       []byte(hex.EncodeToString(sec)),
				"base64":    []byte(base64.StdEncoding.EncodeToString(sec)),
				"base64raw": []byte(base64.RawStdEncoding.EncodeToString(sec)),
				"base64url": []byte(base64.RawURLEncoding.EncodeToString(sec)),
			}
			for form, needle := range forms {
				hay := data
				if form == "hex" {
					hay = lower // catch upper-case hex too
				}
				if bytes.Contains(hay, needle) {
					t.Errorf("%s holds secret %d in %s form", filepath.Base(path), i, form)
				}
			}
			// A prefix is enough to leak a key; look for the first half too.
			if bytes.Contains(data, sec[:16]) {
				t.Errorf("%s holds the first 16 bytes of secret %d", filepath.Base(path), i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no files searched")
	}

	// The node key itself must not be in the database either.
	key, _ := os.ReadFile(filepath.Join(dir, keyFileName))
	db, _ := os.ReadFile(filepath.Join(dir, dbFileName))
	if bytes.Contains(db, key) {
		t.Error("hsm.db contains the node key")
	}

	// And the data is still there, sealed, for a reopened store.
	s = openTest(t, dir)
	if got := mustGet(t, s, "objects", "handle-199"); !bytes.Equal(got, secrets[199]) {
		t.Error("secret 199 does not read back after reopen")
	}
}

// FuzzOpenSealed feeds arbitrary bytes as sealed records. Without the node
// key nothing can forge a GCM tag, so every input must read back as
// ErrCorrupt, from Get, ForEach and Dump alike, and never panic.
//
// bbolt's own code paths (page splits, freelist) change as the database
// grows, which the fuzzer sees as new coverage and spends its default 60 s
// minimizing. Run it with a short minimize time:
//
//	go test -run '^$' -fuzz FuzzOpenSealed -fuzztime 20s -fuzzminimizetime 2s ./hsmd/store/
func FuzzOpenSealed(f *testing.F) {
	s, err := Open(f.TempDir(), Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	if err := s.Commit(1, []Write{{Bucket: "seed", Key: []byte("k"), Value: []byte("a real sealed value")}}); err != nil {
		f.Fatal(err)
	}
	valid := readRaw(f, s, "seed", []byte("k"))
	f.Add([]byte{})
	f.Add([]byte{sealV1})
	f.Add(valid)                              // valid record, but for another bucket: still must fail
	f.Add(valid[:len(valid)-1])               // truncated tag
	f.Add(append([]byte{0x02}, valid[1:]...)) // unknown version
	f.Add(bytes.Repeat([]byte{0}, sealOverhead))

	f.Fuzz(func(t *testing.T, raw []byte) {
		writeRaw(t, s, "fuzz", []byte("k"), raw)
		if v, err := s.Get("fuzz", []byte("k")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get of raw %x: value %x, err %v; want ErrCorrupt", raw, v, err)
		}
		if err := s.ForEach("fuzz", func(k, v []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ForEach: err %v, want ErrCorrupt", err)
		}
		if _, _, err := s.Dump(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Dump: err %v, want ErrCorrupt", err)
		}
	})
}

func BenchmarkCommit(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(fmt.Sprintf("NoSync=%v", noSync), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{NoSync: noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			value := make([]byte, 256)
			rand.Read(value)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				w := []Write{{Bucket: "objects", Key: fmt.Appendf(nil, "h%08d", i), Value: value}}
				if err := s.Commit(uint64(i+1), w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSecondOpenOfSameDirFailsInsteadOfHanging(t *testing.T) {
	dir := t.TempDir()
	openTest(t, dir)
	done := make(chan error, 1)
	go func() {
		s, err := Open(dir, Options{NoSync: true})
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a second Open of a directory in use succeeded")
		}
	case <-time.After(openTimeout + 5*time.Second):
		t.Fatal("second Open hung")
	}
}

// leafFill opens dir's hsm.db read-only and reports how full bucket's leaf pages are.
func leafFill(t *testing.T, dir, bucket string) float64 {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, dbFileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st bolt.BucketStats
	if err := db.View(func(tx *bolt.Tx) error {
		st = tx.Bucket([]byte(bucket)).Stats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return float64(st.LeafInuse) / float64(st.LeafAlloc)
}

// TestAppendedRecordsFillTheirPages: records written in key order (object handles, which only
// grow) and records loaded by Replace (a snapshot) leave their pages mostly full, not half empty
// as bbolt's default split does (44% here), so a token's objects do not cost twice their size.
func TestAppendedRecordsFillTheirPages(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	value := bytes.Repeat([]byte{7}, 400) // a sealed AES key object is about this size
	var kvs []KV
	for i := range 2000 {
		key := binary.BigEndian.AppendUint32(nil, uint32(i+1))
		if err := s.Commit(uint64(i+1), []Write{{Bucket: "objects", Key: key, Value: value}}); err != nil {
			t.Fatal(err)
		}
		kvs = append(kvs, KV{Key: key, Value: value})
	}
	if err := s.Replace(5000, map[string][]KV{"restored": kvs}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, b := range []string{"objects", "restored"} {
		// bbolt leaves a split's last MinKeysPerPage+1 records on the new page, so records
		// appended one commit at a time fill 7 of the 9 this size a page holds: 77%.
		if f := leafFill(t, dir, b); f < 0.75 {
			t.Errorf("bucket %s: leaf pages %.0f%% full, want at least 75%%", b, 100*f)
		}
	}
}
