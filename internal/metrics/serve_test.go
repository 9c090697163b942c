package metrics

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// TestServeMemberShowsAStandaloneHSM: `hsmsim hsmd --metrics-listen` on a new one-HSM cluster
// shows it leading, ACTIVE, with its store, and counts the node API calls it answers.
func TestServeMemberShowsAStandaloneHSM(t *testing.T) {
	base, err := ports.FreeBase(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := cluster.StartStandalone(ctx, cluster.StandaloneOptions{Dir: cluster.NodeDir(filepath.Join(t.TempDir(), "hsm1")),
		Listen: "127.0.0.1:" + strconv.Itoa(base), AZ: "us-east-1a", Init: true, AdminPassword: "adminpass1", Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr, stop, err := ServeMember("127.0.0.1:0", s.Member)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for !s.Member.IsLeader() {
		if ctx.Err() != nil {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl, err := client.DialConfig(s.ClientConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for i := 0; i < 3; i++ {
		if _, err := cl.Info(ctx); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	id := s.Member.ID()
	get := func(name string, labels map[string]string) float64 {
		for _, m := range fams[name].GetMetric() {
			ok := true
			for _, l := range m.Label {
				if v, want := labels[l.GetName()]; want && v != l.GetValue() {
					ok = false
				}
			}
			if ok {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return -1
	}
	if got := get("hsmsim_raft_leader", map[string]string{"node": id}); got != 1 {
		t.Errorf("hsmsim_raft_leader = %v, want 1", got)
	}
	if got := get("hsmsim_hsm_state", map[string]string{"node": id, "state": "ACTIVE"}); got != 1 {
		t.Errorf("hsmsim_hsm_state ACTIVE = %v, want 1", got)
	}
	if got := get("hsmsim_node_rpcs_total", map[string]string{"node": id, "method": "GetInfo", "code": "CKR_OK"}); got < 3 {
		t.Errorf("GetInfo calls = %v, want at least 3 (the client's own come on top)", got)
	}
	if get("hsmsim_store_size_bytes", map[string]string{"node": id}) <= 0 {
		t.Error("no store size")
	}
}
