package server_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// The child side of TestLoginEndsWithItsClient: a process that logs in as the crypto user and
// lives until it is killed. It runs only when the parent test starts it.
func TestLoginLeaseChild(t *testing.T) {
	addr := os.Getenv("HSMSIM_TEST_LEASE_NODE")
	if addr == "" {
		t.Skip("runs as the child process of TestLoginEndsWithItsClient")
	}
	tlsCfg, err := pki.ClientTLS([]byte(os.Getenv("HSMSIM_TEST_LEASE_CA")), "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Config{Addr: addr, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("logged in\n")
	time.Sleep(time.Minute) // killed long before
}

// A login lives while its client does and ends soon after the client dies without logging out,
// as a CloudHSM login ends with its connection (the CloudHSM CLI and PKCS#11 library log in per
// connection: docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-login.html): a separate
// process logs in and is SIGKILLed.
func TestLoginEndsWithItsClient(t *testing.T) {
	const lease = 2 * time.Second
	n := nodetest.Start(t, nodetest.Options{LoginLease: lease})
	admin := n.Admin(t)
	logins := func() uint32 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		users, err := admin.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if u.User == nodetest.CryptoUser {
				return u.ActiveLogins
			}
		}
		t.Fatalf("no user %s", nodetest.CryptoUser)
		return 0
	}

	child := exec.Command(os.Args[0], "-test.run=^TestLoginLeaseChild$", "-test.count=1")
	child.Env = append(os.Environ(), "HSMSIM_TEST_LEASE_NODE="+n.Addr, "HSMSIM_TEST_LEASE_CA="+string(n.CA.CertPEM))
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logged in") {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the child process ended without logging in")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child process did not log in")
	}

	// Alive and renewing: the login outlives several leases.
	time.Sleep(3 * lease)
	if got := logins(); got != 1 {
		t.Fatalf("%d logins of %s while its client lives, want 1", got, nodetest.CryptoUser)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for logins() != 0 {
		if time.Since(killed) > 4*lease {
			t.Fatalf("the login of a killed client still exists %v later (lease %v)", time.Since(killed), lease)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the killed client's login ended %v after the kill (lease %v)", time.Since(killed).Round(time.Millisecond), lease)
}

// A credential adopted by another Session (as a PKCS#11 module or a workload shares one login
// among many clients) is renewed by the clients that use it, after the client that logged in is
// gone.
func TestAdoptedCredentialIsRenewed(t *testing.T) {
	const lease = 2 * time.Second
	n := nodetest.Start(t, nodetest.Options{LoginLease: lease})
	ctx := ctxT(t)
	first := n.Alice(t)
	sess := &client.Session{}
	sess.SetCredential(first.Session().Credential())
	first.Close()
	tlsCfg, err := pki.ClientTLS(n.CA.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := client.Dial(client.Config{Addr: n.Addr, TLS: tlsCfg, Session: sess})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	time.Sleep(3 * lease)
	if _, err := second.FindObjects(ctx, nil); err != nil {
		t.Fatalf("after %v (lease %v) the adopted login is gone: %v", 3*lease, lease, err)
	}
}
