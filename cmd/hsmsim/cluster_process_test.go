package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

type hsmProc struct {
	dir, api, raft string
	cmd            *exec.Cmd
}

// TestThreeProcessesSurviveASIGKILL runs three "hsmsim hsmd" processes as one cluster, kills the
// leader's process with SIGKILL while a client creates keys, and checks that writes go on, that
// every acknowledged key is there, and that the killed HSM rejoins and catches up.
func TestThreeProcessesSurviveASIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	bin := buildCLI(t)
	root := t.TempDir()
	procs := make([]*hsmProc, 3)
	for i := range procs {
		procs[i] = &hsmProc{dir: filepath.Join(root, "hsm"+string(rune('a'+i))), api: freePort(t), raft: freePort(t)}
	}
	cfg := filepath.Join(root, "client.json")
	first := procs[0]
	first.cmd = startHSMD(t, bin, "--data-dir", first.dir, "--listen", first.api, "--raft-listen", first.raft, "--az", "us-east-1a",
		"--init", "--admin-password", "adminpass1", "--write-config", cfg, "--fast-timeouts", "--log-level", "warn")
	waitFile(t, cfg)
	mustRun(t, bin, cfg, "user", "create", "--pin", "admin:adminpass1", "alice", "alicepass1")
	ca := cluster.NodeDir(first.dir).CustomerCAPath()
	for i, p := range procs[1:] {
		p.cmd = startHSMD(t, bin, "--data-dir", p.dir, "--listen", p.api, "--raft-listen", p.raft, "--az", []string{"us-east-1b", "us-east-1c"}[i],
			"--join", first.api, "--ca-cert", ca, "--ca-key", cluster.NodeDir(first.dir).CustomerCAKeyPath(), "--fast-timeouts", "--log-level", "warn")
	}

	caPEM, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]client.Node, len(procs))
	for i, p := range procs {
		nodes[i] = client.Node{Addr: p.api}
	}
	cl, err := client.Dial(client.Config{Nodes: nodes, CAPEM: caPEM, AttemptTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Wait until all three are members.
	for {
		members, err := cl.Refresh(ctx)
		if err == nil && len(members) == 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("cluster never had 3 members: %v %v", members, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := cl.Login(ctx, "alice", "alicepass1"); err != nil {
		t.Fatal(err)
	}

	// A writer creates keys until told to stop; every acknowledged handle is kept.
	var (
		mu       sync.Mutex
		acked    []uint32
		failures atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load() && i < 5000; i++ {
			h, err := cl.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
				{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(16)}, {Type: p11.CKA_LABEL, Value: []byte("load")}})
			if err != nil {
				failures.Add(1)
				continue
			}
			mu.Lock()
			acked = append(acked, h)
			mu.Unlock()
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitCount := func(n int) {
		t.Helper()
		for count() < n {
			if ctx.Err() != nil {
				t.Fatalf("only %d keys acknowledged, waited for %d", count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitCount(20)

	info, err := cl.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim *hsmProc
	for _, m := range info.Members {
		if m.Leader {
			for _, p := range procs {
				if p.api == m.Addr {
					victim = p
				}
			}
		}
	}
	if victim == nil {
		t.Fatalf("no leader among %v", info.Members)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.cmd.Wait()
	before := count()
	waitCount(before + 20) // writes go on without the old leader

	victim.cmd = startHSMD(t, bin, "--data-dir", victim.dir, "--fast-timeouts", "--log-level", "warn")
	waitCount(count() + 10)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d keys acknowledged, %d failed attempts across the kill", count(), failures.Load())

	// Every acknowledged key is on every node, the restarted one included.
	for _, p := range procs {
		one, err := client.Dial(client.Config{Addr: p.api, CAPEM: caPEM, Session: cl.Session()})
		if err != nil {
			t.Fatal(err)
		}
		var hs []uint32
		for {
			hs, err = one.FindObjects(ctx, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("load")}})
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond) // the restarted node may still be catching up
		}
		one.Close()
		if err != nil {
			t.Fatalf("find on %s: %v", p.api, err)
		}
		have := map[uint32]bool{}
		for _, h := range hs {
			have[h] = true
		}
		mu.Lock()
		for _, h := range acked {
			if !have[h] {
				t.Errorf("node %s lacks acknowledged key %d", p.api, h)
			}
		}
		mu.Unlock()
	}
}
