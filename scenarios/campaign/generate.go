// Package campaign runs many seeded fault schedules: from a seed it generates a scenario (the
// cluster shape, the workloads per face, the fault kinds, their timing and their targets), runs
// it with the linearizability and no-lost-key checkers, and summarizes the seeds. A seed is the
// whole of a generated scenario, so a failure is reproduced by its seed alone (or by the YAML
// the generator wrote, with `hsmsim scenario run`).
//
// The generator writes scenario YAML and decodes it with package spec, rather than building
// spec values: the file a failing seed leaves behind is then exactly what ran, and it is
// checked by the same decoder as every library scenario.
package campaign

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// Faces a campaign can drive (spec.Face*).
var Faces = []string{spec.FaceHSM, spec.FacePKCS11, spec.FaceKMS}

// Kinds are the fault kinds a campaign draws from by default: every fault that breaks the
// cluster or the AWS API and is reversed by the heal, so that what must hold at the end (no
// acknowledged key lost, every HSM identical) does not depend on the draw. Operator actions
// whose outcome a scenario must state (key store and kmsuser actions, restore-backup) are left
// out: their expectations are not a function of the seed.
var Kinds = []string{"kill", "restart", "pause", "partition", "one-way", "isolate-az", "az-outage",
	"link", "cut-clients", "wipe", "remove-hsm", "add-hsm", "api-fault"}

// Profile lengths of a generated scenario: the full load, and the short one (CI, the
// 100-seed run). Fault times are written for the full load and scaled by the short profile.
const (
	fullLoad  = 24 * time.Second
	shortLoad = 10 * time.Second
)

// Config is what a campaign draws from.
type Config struct {
	// Kinds are the fault kinds to draw (empty: Kinds), already limited to what the target
	// can carry out (Usable).
	Kinds []string
	// Faces are the faces to put load on (empty: Faces).
	Faces []string
}

// rng is the generator's seeded source: every choice of a schedule is drawn from it in a fixed
// order, so one seed gives one scenario.
type rng struct{ r *rand.Rand }

func newRNG(seed int64) *rng {
	return &rng{rand.New(rand.NewPCG(uint64(seed), 0x6861736d73696d))} // "hasmsim": a fixed stream
}

func (g *rng) n(k int) int              { return g.r.IntN(k) }
func (g *rng) pick(xs []string) string  { return xs[g.r.IntN(len(xs))] }
func (g *rng) chance(p float64) bool    { return g.r.Float64() < p }
func (g *rng) between(lo, hi int) int   { return lo + g.r.IntN(hi-lo+1) }
func (g *rng) ms(lo, hi int) string     { return fmt.Sprintf("%dms", g.between(lo, hi)) }
func (g *rng) rate(lo, hi int) string   { return fmt.Sprintf("%d/s", g.between(lo, hi)) }
func (g *rng) nodeSel() string          { return g.pick([]string{"leader", "follower", "random"}) }
func (g *rng) followerOrRandom() string { return g.pick([]string{"follower", "random"}) }

// Name is the generated scenario's name for a seed.
func Name(seed int64) string { return fmt.Sprintf("campaign-seed-%d", seed) }

// Generate returns the scenario of a seed, as YAML and decoded. It is a pure function of the
// seed and the configuration.
func Generate(seed int64, c Config) ([]byte, *spec.Scenario, error) {
	kinds, faces := c.Kinds, c.Faces
	if len(kinds) == 0 {
		kinds = Kinds
	}
	if len(faces) == 0 {
		faces = Faces
	}
	g := newRNG(seed)
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	// The cluster: three HSMs in three AZs, or five (2, 2, 1), the shapes CloudHSM guidance
	// names for production.
	azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	shape := []int{1, 1, 1}
	if g.chance(0.4) {
		shape = []int{2, 2, 1}
	}
	has := func(face string) bool { return slices.Contains(faces, face) }
	kms := has(spec.FaceKMS)
	// One pkcs11 workload per process at a time, and the module is a second Go runtime: a third
	// of the seeds that may use it do. Drawn whatever the faces, so that the draws after it
	// stay where they are.
	p11Draw := g.chance(0.34)
	p11 := has(spec.FacePKCS11) && p11Draw
	hsm := has(spec.FaceHSM)

	w("# Models: a seeded fault schedule of the campaign (package scenarios/campaign), seed %d;", seed)
	w("# reproduce with: hsmsim scenario campaign --seeds 1 --first-seed %d (same kinds and faces).", seed)
	w("name: %s", Name(seed))
	w("models: seeded faults (%s) under %s load; no lost key, every key history linearizable", strings.Join(kinds, ", "), strings.Join(faces, ", "))
	w("seed: %d", seed)
	w("duration: %s", fullLoad)
	w("short: {duration: %s}", shortLoad)
	w("cluster:")
	w("  hsms: {%s: %d, %s: %d, %s: %d}", azs[0], shape[0], azs[1], shape[1], azs[2], shape[2])

	w("setup:")
	w("  - user: {name: app, password: appPassword1}")
	signer := hsm || p11
	if signer {
		w("  - key: {name: signer, owner: app, type: ec-p256}")
	}
	if hsm {
		w("  - key: {name: sealer, owner: app, type: aes-256}")
	}
	if kms {
		w("  - kmsuser: {password: kmsPassword1}")
		w("  - keystore: {name: store}")
		w("  - kms-key: {name: k1, store: store}")
		w("  - kms-key: {name: k2, store: store}")
	}

	w("workloads:")
	if hsm {
		// key-lifecycle is the history the linearizability checker reads.
		w("  - {name: keys, face: hsm, op: key-lifecycle, rate: %s, concurrency: %d, timeout: 400ms}", g.rate(40, 80), g.between(2, 4))
		switch g.n(3) {
		case 0:
			w("  - {name: sign, face: hsm, op: sign, keys: [signer], rate: %s, concurrency: %d}", g.rate(20, 60), g.between(1, 3))
		case 1:
			w("  - {name: seal, face: hsm, op: encrypt, keys: [sealer], rate: %s, concurrency: %d}", g.rate(20, 60), g.between(1, 3))
		default:
			w("  - {name: keygen, face: hsm, op: generate-key, rate: %s, concurrency: %d, timeout: 400ms}", g.rate(10, 30), g.between(1, 2))
		}
	}
	if p11 {
		w("  - {name: p11-sign, face: pkcs11, op: sign, keys: [signer], rate: %s, concurrency: %d}", g.rate(20, 60), g.between(1, 3))
	}
	if kms {
		w("  - {name: encrypt, face: kms, op: encrypt, keys: [k1, k2], rate: %s, concurrency: %d, transport: %s}", g.rate(20, 40), g.between(2, 4), g.pick([]string{"http", "inproc"}))
		w("  - {name: decrypt, face: kms, op: decrypt, keys: [k1, k2], rate: %s, concurrency: 2}", g.rate(10, 20))
		if g.chance(0.5) {
			w("  - {name: datakey, face: kms, op: generate-data-key, keys: [k1], rate: %s, concurrency: 2}", g.rate(5, 15))
		} else {
			w("  - {name: create, face: kms, op: create-key, store: store, rate: %s, concurrency: 1}", g.rate(2, 5))
		}
	}

	// Faults: two to four, each in its own slot of the load, so that at most one is in force
	// at a time and every selector has a candidate (a leader exists again before the next one).
	usable := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == "api-fault" && !kms })
	n := g.between(2, 4)
	w("faults:")
	if len(usable) == 0 {
		b.WriteString("  []\n")
	}
	slot := (fullLoad - 2*time.Second) / time.Duration(n)
	slotMS := int(slot / time.Millisecond)
	for i := 0; i < n && len(usable) > 0; i++ {
		start := 2000 + i*slotMS
		at := fmt.Sprintf("%dms..%dms", start, start+slotMS/5)
		dur := fmt.Sprintf("%dms..%dms", slotMS/4, slotMS/2)
		k := g.pick(usable)
		name := fmt.Sprintf("f%d-%s", i+1, k)
		w("  - %s", faultYAML(g, k, name, at, dur, azs))
	}
	w("expect:")
	w("  no-lost-keys: true")
	w("  converged: true")
	w("  linearizable: true")
	w("  converge-within: 30s")

	yaml := []byte(b.String())
	s, err := spec.Parse(Name(seed)+".yaml", yaml)
	if err != nil {
		return yaml, nil, fmt.Errorf("seed %d generated a scenario the decoder refuses: %w", seed, err)
	}
	return yaml, s, nil
}

// faultYAML is one fault of kind k, as a flow mapping.
func faultYAML(g *rng, k, name, at, dur string, azs []string) string {
	head := fmt.Sprintf("{name: %s, at: %s, do: %s", name, at, k)
	switch k {
	case "kill", "pause", "cut-clients":
		return fmt.Sprintf("%s, node: %s, for: %s}", head, g.nodeSel(), dur)
	case "restart":
		return fmt.Sprintf("%s, node: %s}", head, g.nodeSel())
	case "wipe", "remove-hsm":
		// The leader is wiped or removed as well as a follower: the cluster must hand over.
		return fmt.Sprintf("%s, node: %s, for: %s}", head, g.nodeSel(), dur)
	case "partition":
		nodes := g.nodeSel()
		if g.chance(0.4) {
			nodes += ", " + g.followerOrRandom()
		}
		return fmt.Sprintf("%s, nodes: [%s], for: %s}", head, nodes, dur)
	case "one-way":
		from, to := "leader", "follower"
		if g.chance(0.5) {
			from, to = to, from
		}
		return fmt.Sprintf("%s, from: %s, to: %s, for: %s}", head, from, to, dur)
	case "isolate-az", "az-outage":
		return fmt.Sprintf("%s, az: %s, for: %s}", head, g.pick(azs), dur)
	case "add-hsm":
		return fmt.Sprintf("%s, az: %s}", head, g.pick(azs))
	case "link":
		i := g.n(len(azs))
		j := (i + 1 + g.n(len(azs)-1)) % len(azs)
		return fmt.Sprintf("%s, between: [%s, %s], latency: %s, jitter: %s, loss: %.2f, for: %s}", head, azs[i], azs[j],
			g.ms(5, 60), g.ms(0, 20), float64(g.n(6))/100, dur)
	case "api-fault":
		var rule string
		switch g.n(4) {
		case 0:
			rule = fmt.Sprintf("{error: %s, operations: [%s], probability: %.1f}",
				g.pick([]string{"ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException"}),
				g.pick([]string{"Encrypt", "Decrypt", "GenerateDataKey", "CreateKey"}), 0.2+float64(g.n(6))/10)
		case 1:
			rule = fmt.Sprintf("{action: reset, services: [kms], probability: %.1f}", 0.1+float64(g.n(3))/10)
		case 2:
			rule = fmt.Sprintf("{action: no-body, services: [kms], probability: %.1f}", 0.1+float64(g.n(3))/10)
		default:
			rule = fmt.Sprintf("{latency: \"uniform:%s,%s\", services: [kms]}", g.ms(5, 20), g.ms(50, 200))
		}
		return fmt.Sprintf("%s, api: %s, for: %s}", head, rule, dur)
	}
	panic("campaign: no generator for fault kind " + k)
}
