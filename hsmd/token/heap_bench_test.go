package token

import (
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// fullSecretKey is an AES key with the attributes a stored key carries once the server has
// applied the PKCS#11 defaults: about 29, as on a real token.
func fullSecretKey(v byte) attr.Set {
	a := secretKey(v)
	for _, t := range []uint32{p11.CKA_MODIFIABLE, p11.CKA_COPYABLE, p11.CKA_DESTROYABLE, p11.CKA_DERIVE,
		p11.CKA_LOCAL, p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_SIGN, p11.CKA_VERIFY, p11.CKA_WRAP,
		p11.CKA_UNWRAP, p11.CKA_TRUSTED, p11.CKA_WRAP_WITH_TRUSTED, p11.CKA_ALWAYS_SENSITIVE,
		p11.CKA_NEVER_EXTRACTABLE} {
		a[t] = attr.Bool(true)
	}
	for _, t := range []uint32{p11.CKA_ID, p11.CKA_START_DATE, p11.CKA_END_DATE, p11.CKA_ALLOWED_MECHANISMS} {
		a[t] = []byte{}
	}
	a[p11.CKA_VALUE_LEN] = attr.Ulong(32)
	a[p11.CKA_KEY_GEN_MECHANISM] = attr.Ulong(p11.CKM_AES_KEY_GEN)
	a[p11.CKA_CHECK_VALUE] = []byte{1, 2, 3}
	return a
}

// heapProfile names a file BenchmarkHeapPerObject writes a heap profile to while the objects
// are live (-memprofile is written after the benchmark, when they are gone). Read it with
// go tool pprof -sample_index=inuse_space; run with -test.memprofilerate 1 for exact sizes.
var heapProfile = flag.String("heapprofile", "", "write a heap profile of the live token to this file")

// BenchmarkHeapPerObject reports the live heap one stored object costs in State (objects map,
// index, attributes): the issue 17 "memory per key" figure, per HSM; and used-heap-B/key, the
// same once every key has been parsed for a crypto call.
func BenchmarkHeapPerObject(b *testing.B) {
	const n = 2000
	for b.Loop() {
		ck, _ := NewClusterKey()
		r := newReplica(b, ck)
		for _, c := range script(b, r)[:4] {
			r.apply(c)
		}
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := 0; i < n; i++ {
			no, err := r.s.SealObject("alice", fullSecretKey(byte(i)))
			if err != nil {
				b.Fatal(err)
			}
			if res := r.apply(Command{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{no}}}); res.Err() != nil {
				b.Fatal(res.Err())
			}
		}
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		if objsN, _, _ := r.s.Counts(); objsN != n {
			b.Fatalf("%d objects, want %d", objsN, n)
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "heap-B/key")
		if *heapProfile != "" {
			f, err := os.Create(*heapProfile)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		// A key used by a crypto call since the node started also holds its parsed form
		// (Object.Key, kept for the object's life): memory per key once every key was used.
		for _, o := range r.s.objects {
			if _, err := o.Key(); err != nil {
				b.Fatal(err)
			}
		}
		var used runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&used)
		b.ReportMetric(float64(int64(used.HeapAlloc)-int64(before.HeapAlloc))/n, "used-heap-B/key")
		runtime.KeepAlive(r)
		r.st.Close()
	}
}

// BenchmarkObjectUse times what the node does with a stored object on its hot paths, over a
// token of 2,000 stored AES keys as the server leaves them (fullSecretKey): the checks before a
// crypto call (visibility, attr.Permits), a C_GetAttributeValue read, a template match, a find
// answered by the index and one answered by the scan, and a key creation through Apply. It is
// the "nothing else slower" side of the memory per key figure (BenchmarkHeapPerObject).
func BenchmarkObjectUse(b *testing.B) {
	const n = 2000
	ck, _ := NewClusterKey()
	r := newReplica(b, ck)
	for _, c := range script(b, r)[:4] {
		r.apply(c)
	}
	create := func(i int) {
		no, err := r.s.SealObject("alice", fullSecretKey(byte(i)))
		if err != nil {
			b.Fatal(err)
		}
		if res := r.apply(Command{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{no}}}); res.Err() != nil {
			b.Fatal(res.Err())
		}
	}
	for i := 0; i < n; i++ {
		create(i)
	}
	o, ok := r.s.Object(n / 2)
	if !ok {
		b.Fatal("no object", n/2)
	}
	label := attr.Attribute{Type: p11.CKA_LABEL, Value: []byte("k7")}
	tmpl := []attr.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}, {Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)}, label}
	b.Run("permits", func(b *testing.B) {
		for b.Loop() {
			if !o.VisibleTo("alice") || attr.Permits(o.Attrs, p11.CKA_ENCRYPT) != nil {
				b.Fatal("not usable")
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if _, err := attr.Read(o.Attrs, p11.CKA_VALUE_LEN); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("match", func(b *testing.B) {
		for b.Loop() {
			attr.Match(o.Attrs, tmpl)
		}
	})
	b.Run("find-index", func(b *testing.B) {
		for b.Loop() {
			if len(r.s.Find("alice", []attr.Attribute{label})) == 0 {
				b.Fatal("not found")
			}
		}
	})
	b.Run("find-scan", func(b *testing.B) {
		scan := []attr.Attribute{{Type: p11.CKA_WRAP, Value: attr.Bool(true)}, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}}
		for b.Loop() {
			if len(r.s.Find("alice", scan)) != n {
				b.Fatal("not all found")
			}
		}
	})
	b.Run("create", func(b *testing.B) {
		// Past about 14,000 iterations the token is full and create fails (CKR_DEVICE_MEMORY).
		i := 0
		for b.Loop() {
			create(i)
			i++
		}
	})
}
