package failpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// Injector applies planned faults to an environment and reverses them. Its methods are safe
// for concurrent use; injections and undos are applied one at a time.
type Injector struct {
	Env *target.Env
	Reg *target.Registry
	TL  *history.Timeline
	KMS *awskms.Client // nil when the scenario has no KMS

	run sync.Mutex // one injection or undo at a time

	mu        sync.Mutex
	active    map[string]*activeFault
	lastAdded string
	elsewhere *client.Client // kmsuser's other login
	avail     string
}

type activeFault struct {
	p     Planned
	rules []netsim.Rule
	nodes []string
	undo  func(ctx context.Context) error
}

// NewInjector makes an injector.
func NewInjector(env *target.Env, reg *target.Registry, tl *history.Timeline, kmsClient *awskms.Client) *Injector {
	return &Injector{Env: env, Reg: reg, TL: tl, KMS: kmsClient, active: map[string]*activeFault{}}
}

// Inject applies p now and records it on the timeline. A fault that cannot be applied (no
// leader to kill) is recorded as skipped. An operator action whose result differs from what the
// scenario expects is recorded with pass=false for the checkers.
func (in *Injector) Inject(ctx context.Context, p Planned) {
	in.run.Lock()
	defer in.run.Unlock()
	f := p.Spec
	at := in.TL.Since()
	fields := map[string]string{"do": p.Do, "seq": strconv.Itoa(p.Seq), "fault": p.Fault, "leader": in.Env.Leader()}
	af, instant, err := in.apply(ctx, p, fields)
	if af != nil && len(af.nodes) > 0 {
		fields["nodes"] = strings.Join(af.nodes, ",")
	}
	switch {
	case errors.Is(err, errSkip):
		fields["reason"] = err.Error()
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvSkipped, Name: p.Key(), Detail: DescribeFault(f) + ": " + err.Error(), Fields: fields})
	case instant:
		got := "ok"
		if err != nil {
			got = errorCode(err)
			fields["err"] = err.Error()
		}
		fields["expect"], fields["got"] = f.Expect, got
		fields["pass"] = strconv.FormatBool(f.Expect == "any" || f.Expect == got)
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvAction, Name: p.Key(), Detail: DescribeFault(f) + " → " + got, Fields: fields})
	case err != nil:
		fields["err"] = err.Error()
		fields["pass"] = "false"
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvAction, Name: p.Key(), Detail: DescribeFault(f) + " failed: " + err.Error(), Fields: fields})
	default:
		in.mu.Lock()
		in.active[p.Key()] = af
		in.mu.Unlock()
		in.TL.AddEvent(history.Event{At: at, Kind: history.EvFault, Name: p.Key(), Detail: describeResolved(f, af), Fields: fields})
	}
	in.recordAvail()
}

func describeResolved(f *spec.Fault, af *activeFault) string {
	s := DescribeFault(f)
	if len(af.nodes) > 0 && (f.Node != "" || len(f.Nodes) > 0 || f.From != "") {
		s += " → " + strings.Join(af.nodes, ",")
	}
	return s
}

var errSkip = errors.New("skipped")

func skipf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSkip, fmt.Sprintf(format, args...))
}

// Undo reverses the active fault key (no-op when it is not active).
func (in *Injector) Undo(ctx context.Context, key string) {
	in.run.Lock()
	defer in.run.Unlock()
	in.undoLocked(ctx, key)
	in.recordAvail()
}

func (in *Injector) undoLocked(ctx context.Context, key string) {
	in.mu.Lock()
	af := in.active[key]
	delete(in.active, key)
	in.mu.Unlock()
	if af == nil {
		return
	}
	fields := map[string]string{"do": af.p.Do, "undo": spec.UndoOf(af.p.Do), "fault": af.p.Fault}
	if len(af.rules) > 0 {
		in.reconcile()
	}
	var err error
	if af.undo != nil {
		err = af.undo(ctx)
	}
	if err != nil {
		fields["err"] = err.Error()
	}
	in.TL.AddEvent(history.Event{Kind: history.EvUndo, Name: key, Detail: spec.UndoOf(af.p.Do) + " (" + DescribeFault(af.p.Spec) + ")", Fields: fields})
}

// UndoAll reverses every active fault (the end of the load phase), oldest first.
func (in *Injector) UndoAll(ctx context.Context) {
	in.run.Lock()
	defer in.run.Unlock()
	in.mu.Lock()
	keys := make([]string, 0, len(in.active))
	seq := map[string]int{}
	for k, a := range in.active {
		keys = append(keys, k)
		seq[k] = a.p.Seq
	}
	in.mu.Unlock()
	sort.Slice(keys, func(i, j int) bool { return seq[keys[i]] < seq[keys[j]] })
	for _, k := range keys {
		in.undoLocked(ctx, k)
	}
	in.Env.Net.Heal()
	in.recordAvail()
}

// Active lists the keys of the active faults.
func (in *Injector) Active() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]string, 0, len(in.active))
	for k := range in.active {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apply does the work of one injection. instant: an action with no undo, whose result is
// compared with the expectation.
func (in *Injector) apply(ctx context.Context, p Planned, fields map[string]string) (*activeFault, bool, error) {
	f := p.Spec
	af := &activeFault{p: p}
	env := in.Env
	one := func(sel string) (string, error) {
		l, err := in.resolve(ctx, sel, p.Pick)
		if err == nil {
			af.nodes = append(af.nodes, l)
		}
		return l, err
	}
	switch p.Do {
	case spec.DoPartition:
		var side []string
		for i, sel := range f.Nodes {
			l, err := in.resolve(ctx, sel, p.Pick+uint32(i))
			if err != nil {
				return nil, false, err
			}
			if !slices.Contains(side, l) {
				side = append(side, l)
			}
		}
		af.nodes = side
		for _, a := range side {
			for _, b := range in.liveLabels() {
				if !slices.Contains(side, b) {
					af.rules = append(af.rules, partition(env.ID(a), env.ID(b)))
				}
			}
		}
	case spec.DoIsolateAZ:
		af.rules = []netsim.Rule{{Kind: netsim.KindIsolateAZ, AZ: f.AZ}}
		af.nodes = in.labelsInAZ(f.AZ)
	case spec.DoAZOutage:
		af.nodes = in.labelsInAZ(f.AZ)
		for _, l := range af.nodes {
			af.rules = append(af.rules, in.isolateRules(l, af.nodes)...)
		}
	case spec.DoPause:
		l, err := one(f.Node)
		if err != nil {
			return nil, false, err
		}
		af.rules = in.isolateRules(l, []string{l})
	case spec.DoOneWay:
		from, err := in.resolve(ctx, f.From, p.Pick)
		if err != nil {
			return nil, false, err
		}
		to, err := in.resolve(ctx, f.To, p.Pick+1)
		if err != nil {
			return nil, false, err
		}
		if from == to {
			return nil, false, skipf("from and to are both %s", from)
		}
		af.nodes = []string{from, to}
		af.rules = []netsim.Rule{{Kind: netsim.KindPartitionOneWay, From: env.ID(from), To: env.ID(to)}}
	case spec.DoLink:
		l := netsim.Link{Latency: f.Latency, Jitter: f.Jitter, Loss: f.Loss}
		a, b := f.Between[0], f.Between[1]
		if in.isAZ(a) && in.isAZ(b) {
			af.rules = []netsim.Rule{{Kind: netsim.KindAZLink, From: a, To: b, Link: l}, {Kind: netsim.KindAZLink, From: b, To: a, Link: l}}
		} else {
			la, err := in.resolve(ctx, a, p.Pick)
			if err != nil {
				return nil, false, err
			}
			lb, err := in.resolve(ctx, b, p.Pick+1)
			if err != nil {
				return nil, false, err
			}
			af.nodes = []string{la, lb}
			af.rules = []netsim.Rule{{Kind: netsim.KindLink, From: env.ID(la), To: env.ID(lb), Link: l}, {Kind: netsim.KindLink, From: env.ID(lb), To: env.ID(la), Link: l}}
		}
	case spec.DoHeal:
		in.mu.Lock()
		var net []string
		for k, a := range in.active {
			if len(a.rules) > 0 {
				net = append(net, k)
			}
		}
		in.mu.Unlock()
		for _, k := range net {
			in.undoLocked(ctx, k)
		}
		env.Net.Heal()
		return nil, true, nil
	case spec.DoKill:
		l, err := one(f.Node)
		if err != nil {
			return nil, false, err
		}
		if err := env.Kill(l); err != nil {
			return nil, false, err
		}
		af.undo = func(ctx context.Context) error { return env.Restart(ctx, l) }
		return af, false, nil
	case spec.DoRestart:
		l, err := one(f.Node)
		if err != nil {
			return nil, false, err
		}
		if err := env.Kill(l); err != nil {
			return nil, false, err
		}
		err = env.Restart(ctx, l)
		return af, true, err
	case spec.DoWipe:
		l, err := one(f.Node)
		if err != nil {
			return nil, false, err
		}
		// The HSM is down while wiped; its directory is deleted when it comes back (the
		// service's Wipe deletes it and rejoins the HSM under its id).
		if err := env.Kill(l); err != nil {
			return nil, false, err
		}
		af.undo = func(ctx context.Context) error {
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			return env.Rejoin(cctx, l)
		}
		return af, false, nil
	case spec.DoRemoveHSM:
		l, err := one(f.Node)
		if err != nil {
			return nil, false, err
		}
		var az string
		for _, n := range env.Nodes() {
			if n.Label == l {
				az = n.AZ
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := env.Remove(cctx, l); err != nil {
			return nil, p.For == 0, err
		}
		if p.For == 0 { // removed for good: the scenario grows the cluster back itself, if at all
			return af, true, nil
		}
		af.undo = func(ctx context.Context) error {
			_, err := in.add(ctx, az)
			return err
		}
		return af, false, nil
	case spec.DoAddHSM:
		l, err := in.add(ctx, f.AZ)
		af.nodes = []string{l}
		fields["nodes"] = l
		return af, true, err
	case spec.DoLockKMSUser:
		return nil, true, in.lockOut(ctx)
	case spec.DoLoginKMSUser:
		cl, err := in.Env.Client("kmsuser-elsewhere", nil)
		if err != nil {
			return nil, false, err
		}
		if _, err := cl.Login(ctx, "kmsuser", in.kmsUserPass()); err != nil {
			cl.Close()
			return nil, true, err
		}
		in.mu.Lock()
		in.elsewhere = cl
		in.mu.Unlock()
		af.undo = func(ctx context.Context) error { return in.logoutElsewhere(ctx) }
		return af, false, nil
	case spec.DoLogoutKMSUser:
		return nil, true, in.logoutElsewhere(ctx)
	case spec.DoSetKMSUserPass:
		adm, err := env.Admin(ctx, "kmsuser-admin")
		if err != nil {
			return nil, true, err
		}
		defer adm.Close()
		defer func() { _ = adm.Logout(context.Background()) }()
		if err := adm.ChangePassword(ctx, "kmsuser", f.Password); err != nil {
			return nil, true, err
		}
		in.Reg.Lock()
		in.Reg.KMSUserPass = f.Password
		in.Reg.Unlock()
		return nil, true, nil
	case spec.DoDisconnect, spec.DoConnect, spec.DoReconnect, spec.DoUpdateStore, spec.DoKMSCreateKey:
		return nil, true, in.storeAction(ctx, f)
	case spec.DoBackupRestore:
		cctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		defer cancel()
		id, backup, err := env.RestoreBackup(cctx, f.Name)
		fields["cluster"], fields["backup"] = id, backup
		for _, n := range env.Nodes() {
			if n.Cluster == f.Name {
				af.nodes = append(af.nodes, n.Label)
			}
		}
		return af, true, err
	default:
		return nil, false, fmt.Errorf("action %s not implemented", p.Do)
	}
	for _, r := range af.rules {
		if err := env.Net.Apply(r); err != nil {
			return nil, false, err
		}
	}
	return af, false, nil
}

func (in *Injector) add(ctx context.Context, az string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	l, err := in.Env.Add(cctx, az)
	if l != "" {
		in.mu.Lock()
		in.lastAdded = l
		in.mu.Unlock()
	}
	return l, err
}

func (in *Injector) kmsUserPass() string {
	in.Reg.Lock()
	defer in.Reg.Unlock()
	return in.Reg.KMSUserPass
}

func (in *Injector) logoutElsewhere(ctx context.Context) error {
	in.mu.Lock()
	cl := in.elsewhere
	in.elsewhere = nil
	in.mu.Unlock()
	if cl == nil {
		return errors.New("kmsuser is not logged in elsewhere")
	}
	defer cl.Close()
	return cl.Logout(ctx)
}

// lockOut tries kmsuser with wrong passwords until the HSM says it is locked (5 tries).
func (in *Injector) lockOut(ctx context.Context) error {
	cl, err := in.Env.Client("kmsuser-attacker", nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	for i := 0; i < 6; i++ {
		_, err := cl.Login(ctx, "kmsuser", fmt.Sprintf("wrongPassword%d", i))
		switch p11.Code(err) {
		case p11.CKR_PIN_INCORRECT:
			continue
		case p11.CKR_PIN_LOCKED:
			return nil
		case p11.CKR_OK:
			return errors.New("a wrong password was accepted")
		default:
			return err
		}
	}
	return nil // five wrong passwords: locked (the sixth try says so)
}

func (in *Injector) storeAction(ctx context.Context, f *spec.Fault) error {
	if in.KMS == nil {
		return errors.New("no KMS in this scenario")
	}
	in.Reg.Lock()
	id := in.Reg.Stores[f.Store]
	in.Reg.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch f.Do {
	case spec.DoDisconnect:
		_, err := in.KMS.DisconnectCustomKeyStore(cctx, &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	case spec.DoConnect:
		_, err := in.KMS.ConnectCustomKeyStore(cctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	case spec.DoReconnect:
		_, err := in.KMS.DisconnectCustomKeyStore(cctx, &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		if err != nil && errorCode(err) != "CustomKeyStoreInvalidStateException" {
			return err
		}
		_, err = in.KMS.ConnectCustomKeyStore(cctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
		return err
	case spec.DoUpdateStore:
		inp := &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}
		if f.Cluster != "" {
			cid := in.Env.RestoredCluster(f.Cluster)
			if cid == "" {
				return fmt.Errorf("no cluster was restored by %s", f.Cluster)
			}
			inp.CloudHsmClusterId = aws.String(cid)
		}
		if f.Password != "" || f.Cluster == "" {
			pw := f.Password
			if pw == "" {
				pw = in.kmsUserPass()
			}
			inp.KeyStorePassword = aws.String(pw)
		}
		_, err := in.KMS.UpdateCustomKeyStore(cctx, inp)
		return err
	case spec.DoKMSCreateKey:
		out, err := in.KMS.CreateKey(cctx, &awskms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
		if err == nil {
			in.TL.AddEvent(history.Event{Kind: history.EvNote, Name: f.Name, Detail: "created " + aws.ToString(out.KeyMetadata.KeyId)})
		}
		return err
	}
	return nil
}

// errorCode is the exact code an error carries: the AWS exception name, or the CKR_ name.
func errorCode(err error) string {
	if err == nil {
		return "ok"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		return p11.RVName(ce.RV)
	}
	var pe p11.Error
	if errors.As(err, &pe) {
		return p11.RVName(uint32(pe))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Timeout"
	}
	return "Error"
}

// ErrorCode is errorCode for the other packages of the engine.
func ErrorCode(err error) string { return errorCode(err) }

func partition(a, b string) netsim.Rule {
	if a > b {
		a, b = b, a
	}
	return netsim.Rule{Kind: netsim.KindPartition, From: a, To: b}
}

// isolateRules cut node l from every endpoint (node or client) except those in keep.
func (in *Injector) isolateRules(l string, keep []string) []netsim.Rule {
	id := in.Env.ID(l)
	var keepIDs []string
	for _, k := range keep {
		keepIDs = append(keepIDs, in.Env.ID(k))
	}
	var out []netsim.Rule
	for _, ep := range in.Env.Endpoints() {
		if !slices.Contains(keepIDs, ep) {
			out = append(out, partition(id, ep))
		}
	}
	return out
}

// liveLabels lists the HSMs of the scenario's cluster not removed.
func (in *Injector) liveLabels() []string {
	var out []string
	for _, n := range in.Env.Nodes() {
		if !n.Removed && n.Cluster == "" {
			out = append(out, n.Label)
		}
	}
	return out
}

func (in *Injector) labelsInAZ(az string) []string {
	var out []string
	for _, n := range in.Env.Nodes() {
		if !n.Removed && n.AZ == az {
			out = append(out, n.Label)
		}
	}
	return out
}

func (in *Injector) isAZ(s string) bool {
	for _, n := range in.Env.Nodes() {
		if n.AZ == s {
			return true
		}
	}
	return false
}

// frozen lists the labels some active fault cuts off from everyone (pause, az-outage).
func (in *Injector) frozen() map[string]bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]bool{}
	for _, a := range in.active {
		if a.p.Do == spec.DoPause || a.p.Do == spec.DoAZOutage {
			for _, l := range a.nodes {
				out[l] = true
			}
		}
	}
	return out
}

// resolve turns a selector into a node label. Random selectors take the pick-th candidate in
// label order; leader waits (briefly) for one.
func (in *Injector) resolve(ctx context.Context, sel string, pick uint32) (string, error) {
	frozen := in.frozen()
	var cands []string
	nodes := in.Env.Nodes()
	switch {
	case sel == "leader":
		deadline := time.Now().Add(5 * time.Second)
		for {
			if l := in.Env.Leader(); l != "" {
				return l, nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return "", skipf("no leader")
			}
			time.Sleep(20 * time.Millisecond)
		}
	case sel == "last-added":
		in.mu.Lock()
		l := in.lastAdded
		in.mu.Unlock()
		if l == "" {
			return "", skipf("no HSM was added")
		}
		return l, nil
	case sel == "follower", sel == "random", strings.HasPrefix(sel, "az:"):
		leader := in.Env.Leader()
		// A follower follows a leader: during an election, wait (briefly) for one.
		for deadline := time.Now().Add(5 * time.Second); sel == "follower" && leader == "" && time.Now().Before(deadline) && ctx.Err() == nil; {
			time.Sleep(20 * time.Millisecond)
			leader = in.Env.Leader()
		}
		for _, n := range nodes {
			if n.Removed || !n.Up || frozen[n.Label] || n.Cluster != "" {
				continue
			}
			if sel == "follower" && (n.Label == leader || leader == "") {
				continue
			}
			if strings.HasPrefix(sel, "az:") && n.AZ != sel[3:] {
				continue
			}
			cands = append(cands, n.Label)
		}
	default:
		for _, n := range nodes {
			if n.Label == sel && !n.Removed {
				return sel, nil
			}
		}
		return "", skipf("no node %s", sel)
	}
	if len(cands) == 0 {
		return "", skipf("no candidate for %s", sel)
	}
	sort.Slice(cands, func(i, j int) bool { return labelLess(cands[i], cands[j]) })
	return cands[int(pick)%len(cands)], nil
}

func labelLess(a, b string) bool {
	ai, _ := strconv.Atoi(strings.TrimPrefix(a, "n"))
	bi, _ := strconv.Atoi(strings.TrimPrefix(b, "n"))
	return ai < bi
}

// reconcile makes the network's rules the union of the active faults' rules.
func (in *Injector) reconcile() {
	in.mu.Lock()
	desired := map[netsim.Rule]bool{}
	for _, a := range in.active {
		for _, r := range a.rules {
			desired[r] = true
		}
	}
	in.mu.Unlock()
	net := in.Env.Net
	current := net.Rules()
	for _, r := range current {
		if !desired[r] && r.Kind == netsim.KindIsolateAZ {
			net.Heal()
			for r := range desired {
				_ = net.Apply(r)
			}
			return
		}
	}
	for _, r := range current {
		if desired[r] {
			continue
		}
		switch r.Kind {
		case netsim.KindPartition, netsim.KindPartitionOneWay:
			net.HealPair(r.From, r.To)
			for d := range desired {
				if (d.From == r.From && d.To == r.To) || (d.From == r.To && d.To == r.From) {
					_ = net.Apply(d)
				}
			}
		case netsim.KindLink:
			net.SetLink(r.From, r.To, netsim.Link{})
		case netsim.KindAZLink:
			net.SetAZLink(r.From, r.To, netsim.Link{})
		}
	}
}

// Avail reports how many voters of the scenario's cluster can form a quorum now: the largest
// group of running members that reach each other both ways, and how many voters there are.
func (in *Injector) Avail() (up, voters int) {
	var live []target.NodeInfo
	for _, n := range in.Env.Nodes() {
		if !n.Removed && n.Cluster == "" {
			voters++
			if n.Up {
				live = append(live, n)
			}
		}
	}
	seen := map[int]bool{}
	for i := range live {
		if seen[i] {
			continue
		}
		size, stack := 0, []int{i}
		seen[i] = true
		for len(stack) > 0 {
			a := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			for b := range live {
				if seen[b] {
					continue
				}
				ea, eb := netsim.Endpoint{Name: live[a].ID, AZ: live[a].AZ}, netsim.Endpoint{Name: live[b].ID, AZ: live[b].AZ}
				if !in.Env.Net.Blocked(ea, eb) && !in.Env.Net.Blocked(eb, ea) {
					seen[b] = true
					stack = append(stack, b)
				}
			}
		}
		up = max(up, size)
	}
	return up, voters
}

func (in *Injector) recordAvail() {
	up, voters := in.Avail()
	s := fmt.Sprintf("%d/%d", up, voters)
	in.mu.Lock()
	changed := s != in.avail
	in.avail = s
	in.mu.Unlock()
	if changed {
		in.TL.AddEvent(history.Event{Kind: history.EvAvail, Detail: s, Fields: map[string]string{
			"up": strconv.Itoa(up), "voters": strconv.Itoa(voters), "majority": strconv.FormatBool(up > voters/2)}})
	}
}
