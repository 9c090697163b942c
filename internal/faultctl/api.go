// Package faultctl is the live fault control of a running stack (`hsmsim up`, `hsmsim kms`): an
// HTTP API on the KMS endpoint's port, under Path, which no AWS operation can reach (the AWS
// JSON 1.1 and Query protocols post to "/"), and its Go client. It puts in force faults at the
// AWS API (package kms/awsapi/fault: a fault.Rule) and, when the stack runs a cluster of its
// own, faults on the HSM side (HSMFault: the scenario engine's fault families, through a
// target.Attach). Every fault expires (default one minute), so a test suite in any language
// can switch one on around a test case and a crashed run cannot leave the stack broken.
//
//	GET    /_hsmsim/faults        {"api": [rules...], "hsm": [faults...]}
//	POST   /_hsmsim/faults        a rule (JSON), or an HSM fault (JSON with "do"); 201 and it, with its id
//	DELETE /_hsmsim/faults/ID     ends one (204; 404 when none has that id)
//	DELETE /_hsmsim/faults        ends every one: {"cleared": N}
//
// Errors are 400 (or 404, 405) with {"error": "..."}.
package faultctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// Path is where the API is served.
const Path = "/_hsmsim/faults"

// Handler serves the API. HSM is nil on a stack without a cluster of its own (hsmsim kms).
// Others are the stack's other controls, each served at its own path under /_hsmsim/ (the
// metrics), so one mux on the endpoint's port routes everything that is not AWS.
type Handler struct {
	API    *fault.Set
	HSM    *HSM
	Others map[string]http.Handler
}

// Listing is what GET answers.
type Listing struct {
	API []fault.Rule `json:"api"`
	HSM []HSMFault   `json:"hsm"`
}

// Mount serves the API under Path and everything else with next (the AWS endpoint).
func (h *Handler) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path || strings.HasPrefix(r.URL.Path, Path+"/") {
			h.ServeHTTP(w, r)
			return
		}
		if o := h.Others[r.URL.Path]; o != nil {
			o.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, Path), "/")
	switch {
	case id == "" && r.Method == http.MethodGet:
		l := Listing{API: h.API.List(), HSM: []HSMFault{}}
		if h.HSM != nil {
			l.HSM = h.HSM.List()
		}
		reply(w, http.StatusOK, l)
	case id == "" && r.Method == http.MethodPost:
		out, err := h.add(r)
		if err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusCreated, out)
	case id == "" && r.Method == http.MethodDelete:
		n := h.API.Clear()
		if h.HSM != nil {
			n += h.HSM.Clear()
		}
		reply(w, http.StatusOK, map[string]int{"cleared": n})
	case r.Method == http.MethodDelete:
		found := h.API.Remove(id) || h.HSM != nil && h.HSM.Remove(id)
		if !found {
			reply(w, http.StatusNotFound, map[string]string{"error": "no fault " + id})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " " + r.URL.Path + ": GET, POST or DELETE " + Path})
	}
}

// add reads one fault: an HSM fault when it has "do", else a rule at the AWS API.
func (h *Handler) add(r *http.Request) (any, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var probe struct {
		Do string `json:"do"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fmt.Errorf("the body is not a JSON object: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if probe.Do != "" {
		if h.HSM == nil {
			return nil, fmt.Errorf("this stack runs no cluster of its own: HSM faults need hsmsim up")
		}
		var f HSMFault
		if err := dec.Decode(&f); err != nil {
			return nil, err
		}
		return h.HSM.Add(r.Context(), f)
	}
	var rule fault.Rule
	if err := dec.Decode(&rule); err != nil {
		return nil, err
	}
	return h.API.Add(rule)
}

func reply(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
