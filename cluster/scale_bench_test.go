package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// scalePoints are the token sizes BenchmarkTokenScale measures at, up to CloudHSM's 16,666-key
// limit (token.MaxObjects) less the window of creations measured at the last point.
var scalePoints = []int{0, 2000, 8000, 16000}

// scaleWindow is how many creations each point's creations/s is measured over.
const scaleWindow = 500

// BenchmarkTokenScale is the cost of a token as it grows: a 3-node cluster with fsync on and the
// snapshot policy of hsmsim up (the cluster's defaults), filled with AES token keys by 16
// clients. At each point (objects on the x axis) it reports:
//
//   - ns/op: a find by CKA_LABEL through the node API (C_FindObjectsInit + C_FindObjects, one
//     round trip over TLS), and token-find-ns: the same find inside the node (token.State.Find),
//     the part that grows with the token;
//   - creates/s: key creations over the next 500, 16 clients; fill-creates/s: over the fill from
//     the previous point (its 500 included) to this one, 1,500 to 7,500 creations;
//   - disk-B/key: the bytes a member's data directory holds on disk per key (allocated blocks, as
//     du counts them), after a snapshot compacted the Raft log, averaged over the three members;
//     its parts hsmdb (the node store), raftdb (Raft's log), snap (the snapshots kept); and
//     size-B/key, the files' apparent size (what ls shows: bbolt grows a file before using it);
//   - heap-B/key: live heap per key per member (the process's live heap over its empty size,
//     divided by keys and by the three members it holds).
func BenchmarkTokenScale(b *testing.B) {
	c := clustertest.Start(b, clustertest.Options{Nodes: 3, Sync: true, Timeouts: cluster.DefaultTimeouts(),
		SnapshotThreshold: cluster.DefaultSnapshotThreshold, TrailingLogs: cluster.DefaultTrailingLogs,
		SnapshotInterval: cluster.DefaultSnapshotInterval})
	pools := make([]*clustertest.Pool, 16)
	for i := range pools {
		pools[i] = c.Alice(b)
	}
	baseHeap := liveHeap()
	keys := 0
	for _, n := range scalePoints {
		// The fill up to this point is the longer measure of creations/s (thousands of creations,
		// several snapshots), fill-creates/s; creates/s is the 500 right after the point.
		fillStart, filled := time.Now(), n-keys
		fill(b, pools, keys, n)
		fillRate := float64(filled) / time.Since(fillStart).Seconds()
		keys = n
		m := scaleMetrics(b, c, keys, baseHeap)
		label := []byte("no such key")
		if keys > 0 {
			label = fmt.Appendf(nil, "scale-%d", rand.IntN(keys))
		}
		tmpl := []attr.Attribute{{Type: p11.CKA_LABEL, Value: label}}
		node := c.Up()[0]
		cl := pools[0].On(node)
		start := time.Now()
		fill(b, pools, keys, keys+scaleWindow)
		creates := float64(scaleWindow) / time.Since(start).Seconds()
		keys += scaleWindow
		b.Run(fmt.Sprintf("objects=%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				hs, err := cl.FindObjects(ctx, tmpl)
				if err != nil || len(hs) > 1 {
					b.Fatalf("find %q: %v, %v", label, hs, err)
				}
			}
			b.ReportMetric(m.tokenFindNS, "token-find-ns")
			b.ReportMetric(creates, "creates/s")
			if filled > 0 {
				b.ReportMetric(fillRate, "fill-creates/s")
			}
			for _, k := range []string{"disk", "size", "hsmdb", "raftdb", "snap", "heap"} {
				b.ReportMetric(m.perKey[k], k+"-B/key")
			}
		})
	}
}

type scaleMeasure struct {
	tokenFindNS float64
	perKey      map[string]float64
}

// scaleMetrics measures a token of keys objects: the in-node find by label, the members' data
// directories after a snapshot, and the live heap.
func scaleMetrics(b *testing.B, c *clustertest.Cluster, keys int, baseHeap uint64) scaleMeasure {
	m := scaleMeasure{perKey: map[string]float64{}}
	// The median of 21 rounds of 100 finds: the machine is shared, and a round that a
	// neighbour's burst or a collection interrupts says nothing about the token.
	st := c.Up()[0].State()
	var rounds []float64
	for r := range 21 {
		start := time.Now()
		for i := range 100 {
			label := fmt.Appendf(nil, "scale-%d", (r*100+i)*7919%max(keys, 1))
			st.Find(clustertest.CryptoUser, []attr.Attribute{{Type: p11.CKA_LABEL, Value: label}})
		}
		rounds = append(rounds, float64(time.Since(start).Nanoseconds())/100)
	}
	slices.Sort(rounds)
	m.tokenFindNS = rounds[len(rounds)/2]
	if keys == 0 {
		return m
	}
	sizes := map[string]int64{}
	for _, n := range c.Up() {
		if err := n.Member().Snapshot(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			b.Fatalf("snapshot %s: %v", n, err)
		}
		err := filepath.WalkDir(n.Dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			part := "other"
			switch rel, _ := filepath.Rel(n.Dir, path); {
			case rel == "hsm.db":
				part = "hsmdb"
			case rel == "raft.db":
				part = "raftdb"
			case strings.HasPrefix(rel, "snapshots"):
				part = "snap"
			}
			// bbolt extends its files ahead of use (doubling, then 1 GiB steps) without writing
			// the new pages: the blocks a file holds are its cost on disk, its size an upper bound.
			used := fi.Size()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				used = st.Blocks * 512
			}
			sizes[part] += used
			sizes["disk"] += used
			sizes["size"] += fi.Size()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	members := float64(len(c.Up()))
	for k, v := range sizes {
		m.perKey[k] = float64(v) / float64(keys) / members
	}
	m.perKey["heap"] = (float64(liveHeap()) - float64(baseHeap)) / float64(keys) / members
	return m
}

// fill creates the keys labelled scale-from .. scale-(to-1) through the pools, one client each.
func fill(b *testing.B, pools []*clustertest.Pool, from, to int) {
	var next atomic.Int64
	next.Store(int64(from))
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(to); i = next.Add(1) - 1 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if _, err := createKey(ctx, p, fmt.Sprintf("scale-%d", i)); err != nil {
					failed.Add(1)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d creations failed", f)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
