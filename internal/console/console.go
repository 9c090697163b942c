// Package console is the live web console of `hsmsim up`, served on the KMS endpoint's port
// under Path (beside the fault API, internal/faultctl, and like it out of reach of the AWS
// protocols, which post to "/"). It shows the cluster by AZ (each HSM's state, the leader,
// the applied index), the custom key stores and their connection states, the last AWS
// requests, the faults in force with controls that add and clear them through the fault API
// itself (the same calls as `hsmsim fault`), and the scenario reports in the data directory.
//
// The page is plain HTML, CSS and JavaScript embedded in the binary (no build step, nothing
// fetched from elsewhere); it polls one JSON document, Path+"api/state", every second, so it
// needs no connection held open and survives a restart of the stack.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Path is where the console is served.
const Path = "/_hsmsim/console/"

// HSM is one HSM as the console draws it.
type HSM struct {
	ID    string `json:"id"`
	Label string `json:"label"` // the fault API's name for it (n1, n2, ...)
	AZ    string `json:"az"`
	// State is CloudHSM's (ACTIVE, DEGRADED, CREATE_IN_PROGRESS), or DOWN when it does not run.
	State        string `json:"state"`
	Leader       bool   `json:"leader"`
	AppliedIndex uint64 `json:"appliedIndex"`
	Term         uint64 `json:"term"`
}

// Cluster is the cluster the console draws.
type Cluster interface {
	ID() string
	HSMs() []HSM
}

// KeyStore is a custom key store as DescribeCustomKeyStores shows it.
type KeyStore struct {
	ID                  string `json:"id"`
	Name                string `json:"name"`
	ClusterID           string `json:"clusterId"`
	ConnectionState     string `json:"connectionState"`
	ConnectionErrorCode string `json:"connectionErrorCode,omitempty"`
}

// KeyStores lists the KMS's custom key stores.
type KeyStores interface {
	KeyStores(ctx context.Context) ([]KeyStore, error)
}

// Request is one AWS request the endpoint answered.
type Request struct {
	Time      time.Time     `json:"time"`
	Operation string        `json:"operation"`
	Caller    string        `json:"caller"`
	ErrorCode string        `json:"errorCode,omitempty"` // the AWS error type; "" for a success
	Latency   time.Duration `json:"latencyNs"`
}

// Requests is a log of the endpoint's requests: Recent returns the last n, newest first.
type Requests interface {
	Recent(n int) []Request
}

// Handler serves the console. Nil fields are shown as absent.
type Handler struct {
	Cluster   Cluster
	KeyStores KeyStores
	Requests  Requests
	// Reports is the directory of scenario reports (HTML and JSON files) listed and served.
	Reports string
	// Faults is the path of the fault API the page drives (faultctl.Path); "" hides faults.
	Faults string
}

//go:embed assets
var assets embed.FS

// State is the document the page polls.
type State struct {
	ClusterID      string       `json:"clusterId"`
	HSMs           []HSM        `json:"hsms"`
	KeyStores      []KeyStore   `json:"keyStores"`
	KeyStoresError string       `json:"keyStoresError,omitempty"`
	Requests       []Request    `json:"requests"`
	RequestLog     bool         `json:"requestLog"` // false: no request log is wired
	Reports        []ReportFile `json:"reports"`
	Faults         string       `json:"faults,omitempty"`
}

// ReportFile is a scenario report in the reports directory.
type ReportFile struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

// recentRequests is how many requests the page shows.
const recentRequests = 25

// Mount serves the console under Path and everything else with next.
func (h *Handler) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path+"/" == Path || strings.HasPrefix(r.URL.Path, Path) {
			h.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, r.Method+" "+r.URL.Path+": the console only answers GET (faults go to the fault API)", http.StatusMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, Path)
	if !ok { // Path without its slash
		http.Redirect(w, r, Path, http.StatusMovedPermanently)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case rest == "" || rest == "index.html":
		h.asset(w, r, "index.html")
	case rest == "api/state":
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.State(r.Context()))
	case strings.HasPrefix(rest, "reports/"):
		h.report(w, r, strings.TrimPrefix(rest, "reports/"))
	case !strings.Contains(rest, "/") && rest != "index.html":
		h.asset(w, r, rest)
	default:
		http.NotFound(w, r)
	}
}

func (h *Handler) asset(w http.ResponseWriter, r *http.Request, name string) {
	sub, _ := fs.Sub(assets, "assets")
	if _, err := fs.Stat(sub, name); err != nil {
		http.NotFound(w, r)
		return
	}
	http.ServeFileFS(w, r, sub, name)
}

// State gathers what the page shows now.
func (h *Handler) State(ctx context.Context) State {
	st := State{HSMs: []HSM{}, KeyStores: []KeyStore{}, Requests: []Request{}, Reports: h.reports(), Faults: h.Faults}
	if h.Cluster != nil {
		st.ClusterID = h.Cluster.ID()
		st.HSMs = h.Cluster.HSMs()
	}
	if h.KeyStores != nil {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ks, err := h.KeyStores.KeyStores(ctx)
		cancel()
		if err != nil {
			st.KeyStoresError = err.Error()
		} else if ks != nil {
			st.KeyStores = ks
		}
	}
	if h.Requests != nil {
		st.RequestLog = true
		if rs := h.Requests.Recent(recentRequests); rs != nil {
			st.Requests = rs
		}
	}
	return st
}

// isReport: the files of the reports directory the console lists and serves.
func isReport(name string) bool {
	ext := filepath.Ext(name)
	return (ext == ".html" || ext == ".json") && !strings.HasPrefix(name, ".")
}

// reports lists the reports directory, newest first.
func (h *Handler) reports() []ReportFile {
	out := []ReportFile{}
	if h.Reports == "" {
		return out
	}
	ents, err := os.ReadDir(h.Reports)
	if err != nil {
		return out
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !isReport(e.Name()) {
			continue
		}
		out = append(out, ReportFile{Name: e.Name(), Size: info.Size(), Modified: info.ModTime().UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Modified.After(out[j].Modified) })
	return out
}

// report serves one report by its name in the directory (no other path is reachable).
func (h *Handler) report(w http.ResponseWriter, r *http.Request, name string) {
	if h.Reports == "" || name == "" || strings.ContainsAny(name, `/\`) || !isReport(name) {
		http.NotFound(w, r)
		return
	}
	p := filepath.Join(h.Reports, name)
	if info, err := os.Stat(p); err != nil || !info.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeFile(w, r, p)
}
