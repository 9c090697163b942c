// Package ports finds free loopback ports for the layouts hsmsim uses: n HSMs whose node API
// ports are base..base+n-1 and whose Raft ports are cluster.RaftPort of each (`hsmsim up
// --base-port`). Tests and benchmarks that start clusters in other processes use it.
package ports

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"

	"github.com/hsmsim/hsmsim/cluster"
)

// FreeBase returns a base port whose first n API and Raft ports are free on 127.0.0.1 right
// now (another process may still take one before it is used; callers start at once).
func FreeBase(n int) (int, error) {
	for try := 0; try < 50; try++ {
		base := 20000 + rand.IntN(20000)
		if allFree(base, n) {
			return base, nil
		}
	}
	return 0, errors.New("ports: no free base port found")
}

func allFree(base, n int) bool {
	for i := 0; i < n; i++ {
		for _, p := range []int{base + i, cluster.RaftPort(base + i)} {
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				return false
			}
			l.Close()
		}
	}
	return true
}
