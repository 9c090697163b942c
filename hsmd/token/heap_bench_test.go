package token

import (
	"runtime"
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

// BenchmarkHeapPerObject reports the live heap one stored object costs in State (objects map,
// index, attribute map and values): the issue 17 "memory per key" figure, per HSM.
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
		runtime.KeepAlive(r)
		r.st.Close()
	}
}
