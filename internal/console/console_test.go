package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type fakeCluster []HSM

func (f fakeCluster) ID() string  { return "cluster-test" }
func (f fakeCluster) HSMs() []HSM { return f }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// TestConsoleServesItsPageAndStateAndLeavesTheRestToTheEndpoint: the page and its assets come
// from the binary, the state document carries the cluster, the fault API's path and "no
// request log" when none is wired, and every other path (the AWS protocols post to "/") goes to
// the endpoint.
func TestConsoleServesItsPageAndStateAndLeavesTheRestToTheEndpoint(t *testing.T) {
	c := &Handler{Cluster: fakeCluster{{ID: "hsm-a", Label: "n1", AZ: "us-east-1a", State: "ACTIVE", Leader: true, AppliedIndex: 7}}, Faults: "/_hsmsim/faults"}
	aws := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := c.Mount(aws)
	for _, p := range []string{Path, Path + "console.js", Path + "console.css"} {
		if code, body := get(t, h, p); code != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if _, body := get(t, h, Path); !strings.Contains(body, `<main id="main">`) {
		t.Errorf("the page is not the console's:\n%s", body)
	}
	if code, _ := get(t, h, "/"); code != http.StatusTeapot {
		t.Errorf("GET /: %d, want the endpoint's answer", code)
	}
	if code, _ := get(t, h, Path+"nothing.js"); code != http.StatusNotFound {
		t.Errorf("GET a missing asset: %d, want 404", code)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, Path+"api/state", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST to the console: %d, want 405", w.Code)
	}
	code, body := get(t, h, Path+"api/state")
	var st State
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("state: %d %s", code, body)
	}
	if st.ClusterID != "cluster-test" || len(st.HSMs) != 1 || !st.HSMs[0].Leader || st.HSMs[0].AppliedIndex != 7 {
		t.Errorf("state cluster: %+v", st)
	}
	if st.RequestLog || st.Faults != "/_hsmsim/faults" || st.KeyStores == nil || st.Reports == nil {
		t.Errorf("state: %+v, want no request log, the fault API's path, empty lists", st)
	}
}

// TestConsoleListsAndServesOnlyReportsOfItsDirectory: HTML and JSON reports are listed and
// served; other files and any path out of the directory are not.
func TestConsoleListsAndServesOnlyReportsOfItsDirectory(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "reports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"run.html": "<p>report</p>", "run.json": "{}", "notes.txt": "no"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "secret.json"), []byte(`{"secret":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &Handler{Reports: dir}
	st := h.State(context.Background())
	var names []string
	for _, r := range st.Reports {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "run.html,run.json" && strings.Join(names, ",") != "run.json,run.html" {
		t.Errorf("reports listed: %v, want run.html and run.json", names)
	}
	if code, body := get(t, h, Path+"reports/run.html"); code != http.StatusOK || !strings.Contains(body, "report") {
		t.Errorf("GET the report: %d %q", code, body)
	}
	for _, p := range []string{Path + "reports/notes.txt", Path + "reports/../secret.json", Path + "reports/%2e%2e%2fsecret.json", Path + "reports/"} {
		if code, _ := get(t, h, p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
}
