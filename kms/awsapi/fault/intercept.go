package fault

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

var _ awsapi.Interceptor = (*Set)(nil)

// Intercept applies the rules in force to a request, oldest first: a latency rule delays it
// and lets the next rules look at it; the first other rule that acts answers it.
func (s *Set) Intercept(w http.ResponseWriter, r *http.Request, q *awsapi.Request) (bool, error) {
	live := s.live.Load()
	if live == nil {
		return false, nil
	}
	now := s.cfg.Now()
	keys := requestKeys{body: q.Body}
	for _, ru := range *live {
		if now.After(ru.Expires) || !ru.matches(q, &keys) {
			continue
		}
		act, delay := ru.draw()
		if !act {
			continue
		}
		ru.hits.Add(1)
		if delay > 0 && !sleep(r, delay) {
			return true, nil // the client gave up meanwhile: nobody to answer
		}
		switch ru.Action {
		case ActLatency:
			continue
		case ActError:
			return false, &awsapi.Error{Type: ru.Error, Message: ru.Message, Status: ru.Status}
		case ActNoBody:
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(ru.Status)
			return true, nil
		case ActReset:
			drop(w, true)
			return true, nil
		case ActTimeout:
			if sleep(r, time.Duration(ru.Hold)) {
				drop(w, false)
			}
			return true, nil
		}
	}
	return false, nil
}

// sleep waits d, or until the client gives up (false).
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// drop ends the request's connection without an answer: reset sends a TCP RST (SO_LINGER 0),
// as a crashed front end or a load balancer cutting the flow does; otherwise an orderly close.
// A response writer that cannot hand its connection over (an in-process client) gets a 500
// without a body instead.
func drop(w http.ResponseWriter, reset bool) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// matches says whether the rule's match fields all hold for q.
func (r *rule) matches(q *awsapi.Request, keys *requestKeys) bool {
	if len(r.Services) > 0 && !slices.Contains(r.Services, q.Service) {
		return false
	}
	if len(r.Operations) > 0 && !slices.Contains(r.Operations, q.Operation) {
		return false
	}
	if len(r.Regions) > 0 && (q.Caller == nil || !slices.Contains(r.Regions, q.Caller.Region)) {
		return false
	}
	if len(r.Callers) > 0 && (q.Caller == nil ||
		!slices.Contains(r.Callers, q.Caller.AccessKey) && !slices.Contains(r.Callers, q.Caller.Who().ARN)) {
		return false
	}
	if len(r.Keys) > 0 {
		named := keys.get()
		return slices.ContainsFunc(r.Keys, func(k string) bool { return slices.Contains(named, keyRef(k)) })
	}
	return true
}

// requestKeys reads the keys a JSON body names, once per request and only if a rule asks.
type requestKeys struct {
	body []byte
	read bool
	keys []string
}

func (k *requestKeys) get() []string {
	if k.read {
		return k.keys
	}
	k.read = true
	var b struct{ KeyId, SourceKeyId, DestinationKeyId, TargetKeyId string }
	if json.Unmarshal(k.body, &b) != nil {
		return nil
	}
	for _, s := range []string{b.KeyId, b.SourceKeyId, b.DestinationKeyId, b.TargetKeyId} {
		if s != "" {
			k.keys = append(k.keys, keyRef(s))
		}
	}
	return k.keys
}

// keyRef is the part of a key reference rules compare: the key id of a key ARN, "alias/NAME"
// of an alias ARN, anything else as written.
func keyRef(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 {
		return s
	}
	if id, ok := strings.CutPrefix(parts[5], "key/"); ok {
		return id
	}
	return parts[5]
}
