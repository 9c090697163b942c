package cluster_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clustertest"
)

// BenchmarkClusterKeyCreate measures AES key creations per second through a 3-node cluster in 3
// AZs with fsync on (raft.db and the node stores), default timeouts, clients spread over all
// nodes (two thirds of the writes are forwarded by a follower to the leader).
func BenchmarkClusterKeyCreate(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := clustertest.Start(b, clustertest.Options{Nodes: 3, Sync: true, Timeouts: cluster.DefaultTimeouts(),
				SnapshotThreshold: 8192, TrailingLogs: 10240, SnapshotInterval: 30 * time.Second})
			pools := make([]*clustertest.Pool, clients)
			for i := range pools {
				pools[i] = c.Alice(b)
			}
			var next atomic.Int64
			var failed atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						if _, err := createKey(ctx, pools[i], "bench"); err != nil {
							failed.Add(1)
						}
						cancel()
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if f := failed.Load(); f > 0 {
				b.Fatalf("%d creations failed", f)
			}
			b.ReportMetric(float64(b.N)/el.Seconds(), "creates/s")
		})
	}
}

// BenchmarkFailover kills the leader of a 3-node cluster (default timeouts, fsync on) and
// measures the time until the first write succeeds through a client that fails over, over at
// least 20 trials (b.N is raised to 20). Between trials the killed node restarts and catches up.
func BenchmarkFailover(b *testing.B) {
	trials := max(b.N, 20)
	c := clustertest.Start(b, clustertest.Options{Nodes: 3, Sync: true, Timeouts: cluster.DefaultTimeouts()})
	p := c.Alice(b)
	var took []time.Duration
	b.ResetTimer()
	for i := range trials {
		mustCreateKey(b, p, "warm")
		leader := c.WaitLeader(b)
		start := time.Now()
		c.Kill(leader)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := createKey(ctx, p, fmt.Sprintf("after-kill-%d", i))
		cancel()
		if err != nil {
			b.Fatalf("trial %d: no write after the leader died: %v", i, err)
		}
		took = append(took, time.Since(start))
		c.Restart(b, leader)
		c.WaitLeader(b)
	}
	b.StopTimer()
	c.AssertConverged(b)
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[0].Milliseconds()), "min-ms")
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
	b.ReportMetric(float64(len(took)), "trials")
}
