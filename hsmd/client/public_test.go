package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The session objects of the public session (made without a login, or by an admin: the PKCS#11
// SO) outlive a logout, so the client keeps sending their calls to the node that holds them.
// The one node is listed under two addresses, which the client takes for two nodes.
func TestPublicSessionObjectsKeepTheirHomeAcrossALogout(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	_, port, err := net.SplitHostPort(n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	served := map[string]string{} // method → the node of its last attempt
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: "127.0.0.1:" + port}, {Addr: "localhost:" + port}},
		CAPEM: n.CA.CertPEM, Observe: func(a client.Attempt) { mu.Lock(); served[a.Method] = a.Node; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Session().SetPublic()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Login(ctx, "admin", nodetest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	h, err := c.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(16)}, {Type: p11.CKA_PRIVATE, Value: attr.Bool(false)}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	home := served["GenerateKey"]
	mu.Unlock()
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if _, err := c.GetAttributes(ctx, h, p11.CKA_LABEL); err != nil {
			t.Fatalf("the SO's public session key after the logout: %v", err)
		}
		mu.Lock()
		got := served["GetAttributes"]
		mu.Unlock()
		if got != home {
			t.Fatalf("call %d went to %s, not to %s, the node holding the object", i, got, home)
		}
	}
}
