package scenarios

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/scenarios/history"
)

// sample records the leader, node states and key store states whenever they change.
func (e *engine) sample(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n++
		e.sampleNodes()
		if n%3 == 0 {
			e.sampleStores(ctx)
		}
	}
}

func (e *engine) sampleOnce(ctx context.Context) {
	e.sampleNodes()
	e.sampleStores(ctx)
}

func (e *engine) sampleNodes() {
	leader := e.env.Leader()
	e.mu.Lock()
	changed := leader != e.leader
	e.leader = leader
	if leader != "" {
		e.lastLeader = leader
	}
	e.mu.Unlock()
	if changed {
		d := leader
		if d == "" {
			d = "none"
		}
		e.tl.AddEvent(history.Event{Kind: history.EvLeader, Detail: d})
	}
	for _, n := range e.env.Nodes() {
		e.mu.Lock()
		old := e.nodeStates[n.Label]
		e.nodeStates[n.Label] = n.State
		e.mu.Unlock()
		if old != n.State {
			f := map[string]string{"id": n.ID, "az": n.AZ}
			if n.Cluster != "" {
				f["cluster"] = n.Cluster
			}
			e.tl.AddEvent(history.Event{Kind: history.EvNode, Name: n.Label, Detail: n.State, Fields: f})
		}
	}
}

func (e *engine) sampleStores(ctx context.Context) {
	if e.kms == nil {
		return
	}
	e.reg.Lock()
	stores := map[string]string{}
	for k, v := range e.reg.Stores {
		stores[k] = v
	}
	e.reg.Unlock()
	for name, id := range stores {
		st, err := storeState(ctx, e.kms, id)
		if err != nil {
			continue
		}
		e.mu.Lock()
		old := e.stores[name]
		e.stores[name] = st
		e.mu.Unlock()
		if old != st {
			e.tl.AddEvent(history.Event{Kind: history.EvKeyStore, Name: name, Detail: st, Fields: map[string]string{"id": id}})
		}
	}
}

// storeState is "CONNECTED", or "FAILED/USER_LOCKED_OUT" when there is an error code.
func storeState(ctx context.Context, kc *awskms.Client, id string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	out, err := kc.DescribeCustomKeyStores(cctx, &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
	if err != nil || len(out.CustomKeyStores) == 0 {
		return "", fmt.Errorf("describe %s: %v", id, err)
	}
	st := out.CustomKeyStores[0]
	s := string(st.ConnectionState)
	if st.ConnectionErrorCode != "" {
		s += "/" + string(st.ConnectionErrorCode)
	}
	return s, nil
}

func (e *engine) progress(ctx context.Context, phase string) {
	if e.opts.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ops := e.tl.Ops()
		p := Progress{Scenario: e.s.Name, Phase: phase, T: e.tl.Since(), Duration: e.s.Duration, Ops: len(ops), Faults: e.inj.Active()}
		for _, o := range ops {
			if o.Failed() {
				p.Errors++
			}
		}
		e.mu.Lock()
		p.Leader = e.leader
		p.Stores = map[string]string{}
		for k, v := range e.stores {
			p.Stores[k] = v
		}
		e.mu.Unlock()
		e.opts.Progress(p)
	}
}
