// Package traffic is the load side of a scenario: workers that drive one face of the system
// (the KMS over the AWS wire, the cluster client, whose calls are those PKCS#11 makes, or the
// PKCS#11 module itself) at a rate, and record every operation on the timeline with its start,
// end, exact result and the node that served it.
package traffic

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/model"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// Counters are what event triggers count.
type Counters struct {
	Writes atomic.Int64 // successful writes, every workload
	ops    sync.Map     // workload → *atomic.Int64 successful operations
	All    atomic.Int64
}

// Ops is the successful operations of one workload ("" for all).
func (c *Counters) Ops(workload string) int64 {
	if workload == "" {
		return c.All.Load()
	}
	v, ok := c.ops.Load(workload)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (c *Counters) count(workload string, write bool) {
	v, _ := c.ops.LoadOrStore(workload, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	c.All.Add(1)
	if write {
		c.Writes.Add(1)
	}
}

// Target is what workloads drive: clients of the scenario's cluster, the labels of the HSMs
// that served them, the PKCS#11 module's config. A target that runs the KMS also has KMSHost.
type Target interface {
	Client(name string, observe func(client.Attempt)) (*client.Client, error)
	SessionClient(name string, sess *client.Session, observe func(client.Attempt)) (*client.Client, error)
	Label(id string) string
	PKCS11Config() (string, error)
}

// KMSHost is a target that runs the KMS: kms workloads call it with the AWS SDK.
type KMSHost interface {
	KMSClient(inproc bool, timeout time.Duration) *awskms.Client
}

// Deps is what workloads need.
type Deps struct {
	Target   Target
	Reg      *target.Registry
	TL       *history.Timeline
	Counters *Counters
	Seed     int64
}

// Load is a workload ready to run: logged in, its clients or sessions open. Preparing is done
// before the load's clock starts, so that a slow login (a PIN check on a loaded machine, a first
// TLS handshake to each HSM process) is setup, not a stall the load's checks would charge to the
// cluster under its faults.
type Load struct {
	w       spec.Workload
	workers func(ctx context.Context, tokens <-chan struct{}) // runs every worker until ctx ends
	release func()                                            // what Prepare opened, closed once
	once    sync.Once
}

// Prepare readies workload w: an hsm workload logs in once and opens one client per worker on
// the shared session, a kms workload makes its SDK client, a pkcs11 workload initializes the
// module, logs in, finds its keys and opens one session per worker. Nothing is recorded on the
// timeline. The caller runs or closes the Load.
func Prepare(ctx context.Context, w spec.Workload, d Deps) (*Load, error) {
	if w.Face == spec.FacePKCS11 {
		return preparePKCS11(ctx, w, d)
	}
	var sess *client.Session
	var kc *awskms.Client
	var lc *lifecycle
	switch w.Face {
	case spec.FaceHSM:
		sess = &client.Session{}
		cl, err := d.Target.Client("login-"+w.Name, nil)
		if err != nil {
			return nil, err
		}
		d.Reg.Lock()
		pw := d.Reg.Users[w.User]
		d.Reg.Unlock()
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = cl.Login(lctx, w.User, pw)
		cancel()
		if err != nil {
			cl.Close()
			return nil, fmt.Errorf("workload %s: login %s: %w", w.Name, w.User, err)
		}
		sess.Adopt(cl.Session()) // the credential, and the index its reads need
		cl.Close()
		if w.Op == spec.OpKeyLifecycle {
			lc = &lifecycle{}
		}
	case spec.FaceKMS:
		h, ok := d.Target.(KMSHost)
		if !ok {
			return nil, fmt.Errorf("workload %s: the target runs no KMS", w.Name)
		}
		kc = h.KMSClient(w.Transport == "inproc", w.Timeout+time.Second)
	}
	var wks []*worker
	closeAll := func() {
		for _, wk := range wks {
			if wk.hsm != nil {
				wk.hsm.Close()
			}
		}
	}
	for i := 0; i < w.Concurrency; i++ {
		wk := &worker{w: w, d: d, id: i, kms: kc, lc: lc, rng: mrand.New(mrand.NewPCG(uint64(d.Seed), uint64(i+1)))}
		if sess != nil {
			cl, err := d.Target.SessionClient(fmt.Sprintf("%s-%d", w.Name, i), sess, wk.observe)
			if err != nil {
				closeAll()
				return nil, err
			}
			wk.hsm, wk.sess = cl, sess
		}
		wks = append(wks, wk)
	}
	return &Load{w: w, release: closeAll, workers: func(ctx context.Context, tokens <-chan struct{}) {
		var wg sync.WaitGroup
		for _, wk := range wks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wk.loop(ctx, tokens)
			}()
		}
		wg.Wait()
	}}, nil
}

// Run drives the workload at its rate until ctx ends, returns once every worker stopped, and
// closes what Prepare opened.
func (l *Load) Run(ctx context.Context) {
	defer l.Close()
	var tokens <-chan struct{}
	if l.w.Rate > 0 {
		tokens = pace(ctx, l.w.Rate)
	}
	l.workers(ctx, tokens)
}

// Close releases what Prepare opened (a Load that will not run); Run calls it itself.
func (l *Load) Close() { l.once.Do(l.release) }

// pace sends one token per 1/rate on a channel (buffer: a tenth of a second's worth).
func pace(ctx context.Context, rate float64) <-chan struct{} {
	ch := make(chan struct{}, max(1, int(rate/10)))
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch
}

type worker struct {
	w        spec.Workload
	d        Deps
	id       int
	rng      *mrand.Rand
	hsm      *client.Client
	sess     *client.Session
	kms      *awskms.Client
	lc       *lifecycle
	lastNode atomic.Value
	answered atomic.Bool // an attempt of the current operation succeeded: its node is lastNode
	n        int
}

// observe records which node served the operation: the one that answered, else the last tried
// (a hedged read's slower attempt is reported after the answer, canceled).
func (wk *worker) observe(a client.Attempt) {
	if a.Err == nil {
		wk.lastNode.Store(wk.d.Target.Label(a.Node))
		wk.answered.Store(true)
	} else if !wk.answered.Load() {
		wk.lastNode.Store(wk.d.Target.Label(a.Node))
	}
}

func (wk *worker) loop(ctx context.Context, tokens <-chan struct{}) {
	for {
		if tokens != nil {
			select {
			case <-ctx.Done():
				return
			case <-tokens:
			}
		} else if ctx.Err() != nil {
			return
		}
		wk.one(ctx)
	}
}

// one makes one operation and records it. The operation's own deadline is the workload's
// timeout, not the run's: an operation in flight when the load stops finishes.
func (wk *worker) one(runCtx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), wk.w.Timeout)
	defer cancel()
	wk.n++
	switch wk.w.Face {
	case spec.FaceKMS:
		wk.kmsOp(ctx)
	case spec.FaceHSM:
		wk.hsmOp(ctx)
	}
}

func (wk *worker) record(o history.Op, start time.Time, err error) history.Op {
	o.Workload, o.Face, o.Worker = wk.w.Name, wk.w.Face, wk.id
	o.Start, o.End = wk.d.TL.At(start), wk.d.TL.Since()
	if err != nil {
		o.Code, o.Err = history.ErrorCode(err), err.Error()
		if o.Write && (client.Retryable(err) || o.Code == "Timeout") {
			o.Unknown = true
		}
		if o.Key != "" && (o.Code == "CKR_KEY_HANDLE_INVALID" || o.Code == "CKR_OBJECT_HANDLE_INVALID") {
			o.Answer = true
		}
	} else {
		wk.d.Counters.count(wk.w.Name, o.Write)
	}
	if n, _ := wk.lastNode.Load().(string); n != "" {
		o.Node = n
	}
	o.ID = wk.d.TL.AddOp(o)
	return o
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ---- the KMS face ----

func (wk *worker) kmsKey() (name, id string) {
	name = wk.w.Keys[wk.rng.IntN(len(wk.w.Keys))]
	wk.d.Reg.Lock()
	id = wk.d.Reg.KMSKeys[name]
	wk.d.Reg.Unlock()
	return name, id
}

func (wk *worker) kmsOp(ctx context.Context) {
	start := time.Now()
	switch wk.w.Op {
	case spec.OpEncrypt:
		name, id := wk.kmsKey()
		pt := randomBytes(32)
		out, err := wk.kms.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: pt})
		o := wk.record(history.Op{Kind: "encrypt", Node: "kms"}, start, err)
		if err == nil {
			wk.d.Reg.AddCiphertext(target.Ciphertext{KeyID: id, Blob: out.CiphertextBlob, Plaintext: pt, StoreKey: name, ProducedAt: o.End})
		}
	case spec.OpGenerateDataKey:
		name, id := wk.kmsKey()
		out, err := wk.kms.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
		o := wk.record(history.Op{Kind: "generate-data-key", Node: "kms"}, start, err)
		if err == nil {
			wk.d.Reg.AddCiphertext(target.Ciphertext{KeyID: id, Blob: out.CiphertextBlob, Plaintext: out.Plaintext, StoreKey: name, ProducedAt: o.End})
		}
	case spec.OpDecrypt:
		ct, ok := wk.d.Reg.Ciphertext(wk.rng.IntN(1 << 30))
		if !ok {
			time.Sleep(20 * time.Millisecond)
			return
		}
		out, err := wk.kms.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: ct.Blob})
		if err == nil && string(out.Plaintext) != string(ct.Plaintext) {
			err = fmt.Errorf("decrypt returned another plaintext")
		}
		wk.record(history.Op{Kind: "decrypt", Node: "kms"}, start, err)
	case spec.OpCreateKey:
		wk.d.Reg.Lock()
		store := wk.d.Reg.Stores[wk.w.Store]
		wk.d.Reg.Unlock()
		out, err := wk.kms.CreateKey(ctx, &awskms.CreateKeyInput{CustomKeyStoreId: aws.String(store), Origin: types.OriginTypeAwsCloudhsm})
		o := history.Op{Kind: "create-key", Node: "kms", Write: true}
		if err == nil {
			o.Value = aws.ToString(out.KeyMetadata.KeyId)
		}
		wk.record(o, start, err)
	}
}

// ---- the HSM face ----

// AESTemplate is the template of token AES keys made by workloads and setup: the same keys the
// KMS makes in a custom key store, so the HSM face loads the cluster as the KMS does.
func AESTemplate() []attr.Attribute { return kms.KMSUserKeyTemplate() }

// P256 is the DER OID of the P-256 curve (CKA_EC_PARAMS).
var P256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

var gcm = ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}

func (wk *worker) setupKey() uint32 {
	name := wk.w.Keys[wk.rng.IntN(len(wk.w.Keys))]
	wk.d.Reg.Lock()
	defer wk.d.Reg.Unlock()
	return wk.d.Reg.HSMKeys[name]
}

func (wk *worker) hsmOp(ctx context.Context) {
	wk.lastNode.Store("")
	wk.answered.Store(false)
	start := time.Now()
	switch wk.w.Op {
	case spec.OpSign:
		_, err := wk.hsm.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, wk.setupKey(), randomBytes(32))
		wk.record(history.Op{Kind: "sign"}, start, err)
	case spec.OpEncrypt:
		_, _, err := wk.hsm.Encrypt(ctx, gcm, wk.setupKey(), randomBytes(64))
		wk.record(history.Op{Kind: "encrypt"}, start, err)
	case spec.OpGenerateKey:
		h, err := wk.hsm.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, AESTemplate())
		o := history.Op{Kind: "generate-key", Write: true}
		if err == nil {
			o.Value = fmt.Sprint(h)
		}
		wk.record(o, start, err)
	case spec.OpKeyLifecycle:
		wk.lifecycleOp(ctx, start)
	}
}

// lifecycle is the shared pool of keys of a key-lifecycle workload: its workers create keys,
// use them, destroy them, and use destroyed keys (which must fail), concurrently, in one
// session, so that each key's history can be checked for linearizability.
type lifecycle struct {
	mu   sync.Mutex
	next int
	live []lkey
	dead []lkey
}

type lkey struct {
	name   string
	handle uint32
}

func (l *lifecycle) take(rng *mrand.Rand, dead bool) (lkey, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pool := l.live
	if dead {
		pool = l.dead
	}
	if len(pool) == 0 {
		return lkey{}, false
	}
	return pool[rng.IntN(len(pool))], true
}

func (wk *worker) lifecycleOp(ctx context.Context, start time.Time) {
	l := wk.lc
	l.mu.Lock()
	nlive := len(l.live)
	l.mu.Unlock()
	r := wk.rng.IntN(100)
	switch {
	case nlive < 3 || r < 20: // create
		l.mu.Lock()
		l.next++
		name := fmt.Sprintf("k%d", l.next)
		l.mu.Unlock()
		h, err := wk.hsm.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, AESTemplate())
		o := history.Op{Kind: model.Create, Key: name, Write: true}
		if err == nil {
			o.Value = fmt.Sprint(h)
		}
		wk.record(o, start, err)
		if err == nil {
			l.mu.Lock()
			l.live = append(l.live, lkey{name, h})
			l.mu.Unlock()
		}
	case r < 85: // use a live key (it may be destroyed concurrently)
		k, _ := l.take(wk.rng, false)
		_, _, err := wk.hsm.Encrypt(ctx, gcm, k.handle, randomBytes(32))
		wk.record(history.Op{Kind: model.Use, Key: k.name, Value: fmt.Sprint(k.handle)}, start, err)
	case r < 92: // use a destroyed key: must fail
		k, ok := l.take(wk.rng, true)
		if !ok {
			return
		}
		_, _, err := wk.hsm.Encrypt(ctx, gcm, k.handle, randomBytes(32))
		wk.record(history.Op{Kind: model.Use, Key: k.name, Value: fmt.Sprint(k.handle)}, start, err)
	default: // destroy
		l.mu.Lock()
		if len(l.live) <= 3 {
			l.mu.Unlock()
			return
		}
		i := wk.rng.IntN(len(l.live))
		k := l.live[i]
		l.live = append(l.live[:i], l.live[i+1:]...)
		l.mu.Unlock()
		err := wk.hsm.DestroyObject(ctx, k.handle)
		wk.record(history.Op{Kind: model.Destroy, Key: k.name, Value: fmt.Sprint(k.handle), Write: true}, start, err)
		l.mu.Lock()
		l.dead = append(l.dead, k)
		l.mu.Unlock()
	}
}
