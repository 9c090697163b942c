package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/hsmd/capacity"
)

// ValidSelector reports whether s names nodes: leader, follower, random, last-added, n<i>,
// az:<name>.
func ValidSelector(s string) bool {
	switch {
	case s == "leader", s == "follower", s == "random", s == "last-added":
		return true
	case strings.HasPrefix(s, "az:") && len(s) > 3:
		return true
	case len(s) > 1 && s[0] == 'n':
		for _, c := range s[1:] {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}

func validate(d *decoder, s *Scenario) {
	root := Pos{File: s.File, Line: 1, Col: 1}
	if !nameRE.MatchString(s.Name) {
		d.errAt(root, "name", "%q: use lower case letters, digits and dashes", s.Name)
	}
	if s.Short.Duration > s.Duration {
		d.errAt(root, "short.duration", "longer than duration")
	}
	// cluster
	azs := map[string]bool{}
	if len(s.Cluster.AZs) == 0 {
		d.errAt(root, "cluster.hsms", "required: HSMs per AZ, such as {us-east-1a: 1, us-east-1b: 1, us-east-1c: 1}")
	}
	region := ""
	for _, az := range s.Cluster.AZs {
		azs[az.Name] = true
		if az.HSMs < 0 {
			d.errAt(root, "cluster.hsms."+az.Name, "a count of HSMs cannot be negative")
		}
		n := az.Name
		if len(n) < 2 || n[len(n)-1] < 'a' || n[len(n)-1] > 'f' {
			d.errAt(root, "cluster.hsms."+n, "an AZ is a region and a letter a to f (us-east-1a), as the CloudHSM service places subnets")
			continue
		}
		if region == "" {
			region = n[:len(n)-1]
		} else if n[:len(n)-1] != region {
			d.errAt(root, "cluster.hsms."+n, "not in region %s: a cluster's AZs are in one region", region)
		}
	}
	if n := s.Cluster.Nodes(); n < 1 || n > 28 {
		d.errAt(root, "cluster.hsms", "%d HSMs: a cluster has 1 to 28", n)
	}
	if err := capacity.CheckProfile(s.Capacity); err != nil {
		d.errAt(root, "capacity", "%v", err)
	}
	if t := s.Cluster.HsmType; t != "" && capacity.Rates[t] == nil {
		d.errAt(root, "cluster.hsm-type", "%q: expected %s or %s", t, capacity.HSM2mMedium, capacity.HSM1Medium)
	}
	if t := s.Cluster.Timeouts; t != "" && t != "fast" && t != "default" {
		d.errAt(root, "cluster.timeouts", "%q: expected fast or default", t)
	}
	if c := s.Cluster; c.LeaderLease > 0 && c.Heartbeat > 0 && c.LeaderLease > c.Heartbeat {
		d.errAt(root, "cluster.timeouts.leader-lease", "must not exceed the heartbeat timeout")
	}
	// setup
	users, keys, kmsKeys, stores := map[string]bool{}, map[string]string{}, map[string]bool{}, map[string]bool{}
	hasKMSUser := false
	for i, st := range s.Setup {
		p := fmt.Sprintf("setup[%d].%s", i, st.Kind)
		switch st.Kind {
		case StepUser:
			if st.Name == "" || len(st.Password) < 7 {
				d.errAt(st.Pos, p, "a user needs a name and a password of 7 to 32 characters")
			}
			if st.Name == "kmsuser" || st.Name == "admin" {
				d.errAt(st.Pos, p+".name", "%q is reserved (use the kmsuser step for kmsuser)", st.Name)
			}
			users[st.Name] = true
		case StepKey:
			if st.Name == "" {
				d.errAt(st.Pos, p+".name", "required")
			}
			if !users[st.Owner] {
				d.errAt(st.Pos, p+".owner", "%q is not a user created before this step", st.Owner)
			}
			if st.Type != "aes-256" && st.Type != "ec-p256" {
				d.errAt(st.Pos, p+".type", "%q: expected aes-256 or ec-p256", st.Type)
			}
			keys[st.Name] = st.Type
		case StepKMSUser:
			if len(st.Password) < 7 || len(st.Password) > 32 {
				d.errAt(st.Pos, p+".password", "kmsuser's password has 7 to 32 characters")
			}
			hasKMSUser = true
		case StepKeyStore:
			if !hasKMSUser {
				d.errAt(st.Pos, p, "a custom key store needs the kmsuser step before it")
			}
			if st.Name == "" {
				d.errAt(st.Pos, p+".name", "required")
			}
			stores[st.Name] = true
		case StepKMSKey:
			if st.Name == "" {
				d.errAt(st.Pos, p+".name", "required")
			}
			if st.Store != "" && !stores[st.Store] {
				d.errAt(st.Pos, p+".store", "%q is not a key store created before this step", st.Store)
			}
			kmsKeys[st.Name] = true
		}
	}
	// workloads
	wnames := map[string]bool{}
	pkcs11Workloads := 0
	for i := range s.Workloads {
		w := &s.Workloads[i]
		p := fmt.Sprintf("workloads[%d]", i)
		if w.Name == "" {
			w.Name = fmt.Sprintf("%s-%s", w.Face, w.Op)
		}
		if wnames[w.Name] {
			d.errAt(w.Pos, p+".name", "%q is used twice", w.Name)
		}
		wnames[w.Name] = true
		if w.Concurrency < 1 || w.Concurrency > 64 {
			d.errAt(w.Pos, p+".concurrency", "1 to 64 workers")
		}
		switch w.Face {
		case FaceKMS:
			if !slices.Contains([]string{OpEncrypt, OpDecrypt, OpGenerateDataKey, OpCreateKey}, w.Op) {
				d.errAt(w.Pos, p+".op", "%q: the kms face does encrypt, decrypt, generate-data-key, create-key", w.Op)
			}
			if w.Op == OpCreateKey {
				if !stores[w.Store] {
					d.errAt(w.Pos, p+".store", "%q is not a key store of the setup", w.Store)
				}
			} else if len(w.Keys) == 0 {
				d.errAt(w.Pos, p+".keys", "required: KMS keys of the setup")
			}
			for _, k := range w.Keys {
				if !kmsKeys[k] {
					d.errAt(w.Pos, p+".keys", "%q is not a kms-key of the setup", k)
				}
			}
			if w.Transport == "" {
				w.Transport = "http"
			}
			if w.Transport != "http" && w.Transport != "inproc" {
				d.errAt(w.Pos, p+".transport", "%q: expected http or inproc", w.Transport)
			}
		case FaceHSM, FacePKCS11:
			if w.Face == FaceHSM && !slices.Contains([]string{OpSign, OpEncrypt, OpGenerateKey, OpKeyLifecycle}, w.Op) {
				d.errAt(w.Pos, p+".op", "%q: the hsm face does sign, encrypt, generate-key, key-lifecycle", w.Op)
			}
			if w.Face == FacePKCS11 {
				if w.Op != OpSign {
					d.errAt(w.Pos, p+".op", "%q: the pkcs11 face does sign", w.Op)
				}
				if pkcs11Workloads++; pkcs11Workloads > 1 {
					d.errAt(w.Pos, p+".face", "one pkcs11 workload per scenario (the module is initialized once); give it more concurrency")
				}
			}
			if w.User == "" {
				for _, st := range s.Setup {
					if st.Kind == StepUser {
						w.User = st.Name
						break
					}
				}
			}
			if !users[w.User] {
				d.errAt(w.Pos, p+".user", "%q is not a user of the setup", w.User)
			}
			want := map[string]string{OpSign: "ec-p256", OpEncrypt: "aes-256"}[w.Op]
			if want != "" && len(w.Keys) == 0 {
				d.errAt(w.Pos, p+".keys", "required: %s keys of the setup", want)
			}
			for _, k := range w.Keys {
				if keys[k] != want {
					d.errAt(w.Pos, p+".keys", "%q is not a %s key of the setup", k, want)
				}
			}
		default:
			d.errAt(w.Pos, p+".face", "%q: expected kms, hsm or pkcs11", w.Face)
		}
	}
	// faults
	fnames := map[string]bool{}
	for i := range s.Faults {
		f := &s.Faults[i]
		if f.Name == "" {
			f.Name = fmt.Sprintf("fault-%d", i+1)
		}
		if fnames[f.Name] {
			d.errAt(f.Pos, fmt.Sprintf("faults[%d].name", i), "%q is used twice", f.Name)
		}
		fnames[f.Name] = true
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		p := fmt.Sprintf("faults[%d]", i)
		kind, ok := kindOf(f.Do)
		if !ok {
			d.errAt(f.Pos, p+".do", "%q: expected one of %s", f.Do, strings.Join(FaultKinds(), ", "))
			continue
		}
		if f.When != nil && !f.At.IsZero() {
			d.errAt(f.Pos, p, "give at or when, not both")
		}
		if f.When != nil {
			e := f.When
			switch e.Kind {
			case OnWrites, OnOps:
				if e.Count < 1 {
					d.errAt(f.Pos, p+".when", "a count of 1 or more")
				}
				if e.Workload != "" && !wnames[e.Workload] {
					d.errAt(f.Pos, p+".when.workload", "%q is not a workload", e.Workload)
				}
			case OnKeyStoreState:
				if !stores[e.Store] {
					d.errAt(f.Pos, p+".when.keystore", "%q is not a key store of the setup", e.Store)
				}
				if e.State == "" {
					d.errAt(f.Pos, p+".when.state", "required")
				}
			}
			if e.After != "" && !fnames[e.After] {
				d.errAt(f.Pos, p+".when.after", "%q is not a fault name", e.After)
			}
		}
		if !f.For.IsZero() && kind.Undo == "" {
			d.errAt(f.Pos, p+".for", "%s cannot be undone; schedule the opposite action instead", f.Do)
		}
		if f.Repeat.Times < 0 || (f.Repeat.Times > 1 && f.Repeat.Every.IsZero()) {
			d.errAt(f.Pos, p+".repeat", "repeat needs times and every")
		}
		if f.Repeat.Times > 1 && !f.For.IsZero() && f.For.Max >= f.Repeat.Every.Min {
			d.errAt(f.Pos, p+".for", "each injection must be undone (for %s) before the next (every %s)", f.For, f.Repeat.Every)
		}
		if kind.Validate != nil {
			kind.Validate(&FaultCheck{Scenario: s, AZs: azs, Stores: stores, KMSUser: hasKMSUser, d: d, pos: f.Pos, path: p}, f)
		}
		if f.Expect == "" {
			f.Expect = "ok"
		}
	}
	// expectations
	x := &s.Expect
	phases := []string{DuringAlways, DuringSteady, DuringFaults, DuringMajorityUp}
	for i, b := range x.Errors {
		p := fmt.Sprintf("expect.errors[%d]", i)
		if b.Workload != "" && !wnames[b.Workload] {
			d.errAt(b.Pos, p+".workload", "%q is not a workload", b.Workload)
		}
		if !slices.Contains(phases, b.During) {
			d.errAt(b.Pos, p+".during", "%q: expected one of %s", b.During, strings.Join(phases, ", "))
		}
	}
	for i, b := range x.Throttled {
		if b.Workload != "" && !wnames[b.Workload] {
			d.errAt(b.Pos, fmt.Sprintf("expect.throttled[%d].workload", i), "%q is not a workload", b.Workload)
		}
		if b.MaxShare > 1 {
			d.errAt(b.Pos, fmt.Sprintf("expect.throttled[%d].max-share", i), "%v: a share is 0 to 1", b.MaxShare)
		}
	}
	for i, c := range x.ClientErrors {
		if c.Workload != "" && !wnames[c.Workload] {
			d.errAt(c.Pos, fmt.Sprintf("expect.client-errors[%d].workload", i), "%q is not a workload", c.Workload)
		}
	}
	// workloadPhase checks a budget's workload (required) and phase.
	workloadPhase := func(pos Pos, p, workload, during string) {
		if !wnames[workload] {
			d.errAt(pos, p+".workload", "%q is not a workload", workload)
		}
		if !slices.Contains(phases, during) {
			d.errAt(pos, p+".during", "%q: expected one of %s", during, strings.Join(phases, ", "))
		}
	}
	for i, l := range x.Latency {
		p := fmt.Sprintf("expect.latency[%d]", i)
		workloadPhase(l.Pos, p, l.Workload, l.During)
		if l.P50 == 0 && l.P99 == 0 && l.Max == 0 {
			d.errAt(l.Pos, p, "a latency budget needs p50, p99 or max")
		}
	}
	for i, l := range x.Idle {
		p := fmt.Sprintf("expect.idle[%d]", i)
		workloadPhase(l.Pos, p, l.Workload, l.During)
		if l.Max <= 0 {
			d.errAt(l.Pos, p+".max", "an idle budget needs max (the longest window without a completed operation)")
		}
	}
	for i, k := range x.KeyStores {
		p := fmt.Sprintf("expect.keystore[%d]", i)
		if !stores[k.Store] {
			d.errAt(k.Pos, p+".store", "%q is not a key store of the setup", k.Store)
		}
		if !slices.Contains([]string{"CONNECTED", "CONNECTING", "FAILED", "DISCONNECTED", "DISCONNECTING"}, k.State) {
			d.errAt(k.Pos, p+".state", "%q: expected CONNECTED, CONNECTING, FAILED, DISCONNECTED or DISCONNECTING", k.State)
		}
		if k.After != "" && !fnames[k.After] {
			d.errAt(k.Pos, p+".after", "%q is not a fault name", k.After)
		}
	}
}
