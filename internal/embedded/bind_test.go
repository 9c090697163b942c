package embedded

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// TestUpInAContainerBindsEverywhereAndAdvertisesTheHost: with Bind 0.0.0.0 (as the container
// image runs it) the HSMs and the KMS listen on every interface, so a published port reaches
// them, while everything a client reads (the node addresses, the KMS URL, the client config)
// names Host, the address the client can reach; and the client config's trust anchor is
// relative, so the config works from wherever the data directory is mounted.
func TestUpInAContainerBindsEverywhereAndAdvertisesTheHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	o := testOptions(t)
	o.Host, o.Bind, o.KMSListen = "127.0.0.1", "0.0.0.0", "0.0.0.0:0"
	c, err := Up(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	u, err := url.Parse(c.State.KMSURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("KMS URL %q, want one on the advertised host 127.0.0.1", c.State.KMSURL)
	}
	other := nonLoopbackIPv4(t)
	for _, n := range c.State.Nodes {
		host, port, _ := net.SplitHostPort(n.APIAddr)
		if host != "127.0.0.1" {
			t.Errorf("%s advertises %s, want host 127.0.0.1", n.ID, n.APIAddr)
		}
		if other != "" {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(other, port), 2*time.Second)
			if err != nil {
				t.Errorf("%s not reachable on %s: %v (want it bound on every interface)", n.ID, other, err)
			} else {
				conn.Close()
			}
		}
	}
	if other != "" {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(other, u.Port()), 2*time.Second)
		if err != nil {
			t.Errorf("KMS not reachable on %s: %v", other, err)
		} else {
			conn.Close()
		}
	}
	cfg, err := client.LoadConfig(c.ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	var raw struct{ TrustAnchor string }
	if err := readJSON(c.ConfigPath(), &raw); err != nil || filepath.IsAbs(raw.TrustAnchor) {
		t.Errorf("client config trust_anchor %q (%v), want a path relative to the config", raw.TrustAnchor, err)
	}
	cl, err := client.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, c.State.CryptoUser, c.State.CryptoPass); err != nil {
		t.Fatalf("login through the client config: %v", err)
	}
}

// nonLoopbackIPv4 is an address of this machine other than loopback ("" when it has none:
// the bind checks are then skipped).
func nonLoopbackIPv4(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
			return ip.IP.String()
		}
	}
	t.Log("no non-loopback IPv4 address: not checking that the listeners bind every interface")
	return ""
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
