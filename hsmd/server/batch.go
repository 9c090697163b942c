package server

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// batchMethod is HSMBatch's one call (batch.proto).
const batchMethod = "Batch"

// MaxBatchItems bounds one batch; a larger one is refused whole with CKR_ARGUMENTS_BAD.
const MaxBatchItems = 1024

// batchService implements hsmpb.HSMBatchServer: many crypto reads in one request, each run
// exactly as its own call would be (same service method, same checks, same errors), several
// at once.
type batchService struct {
	hsmpb.UnimplementedHSMBatchServer
	v *service
}

// batchAuth is the outcome of the batch's one credential check: the caller, or the error every
// item that needs a login answers.
type batchAuth struct {
	c   *caller
	err error
}

const batchAuthKey ctxKey = 100

func withBatchAuth(ctx context.Context, c *caller, err error) context.Context {
	return context.WithValue(ctx, batchAuthKey, &batchAuth{c: c, err: err})
}

// Batch runs the items on up to GOMAXPROCS goroutines and answers every item's result in order.
func (b *batchService) Batch(ctx context.Context, r *hsmpb.BatchRequest) (*hsmpb.BatchResponse, error) {
	if len(r.Items) > MaxBatchItems {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "a batch holds at most %d items, not %d", MaxBatchItems, len(r.Items))
	}
	if obs := b.v.n.obs.p.Load(); obs != nil {
		(*obs).ObserveBatch(len(r.Items))
	}
	auth, _ := ctx.Value(batchAuthKey).(*batchAuth)
	if auth == nil {
		auth = &batchAuth{err: p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "no credential")}
	}
	authed := ctx
	if auth.c != nil {
		authed = context.WithValue(ctx, callerKey, auth.c)
	}
	out := &hsmpb.BatchResponse{Results: make([]*hsmpb.BatchResult, len(r.Items))}
	j := &batchJob{n: len(r.Items), run: func(i int) { out.Results[i] = b.item(ctx, authed, auth, r.Items[i]) }}
	// This goroutine works through the items; idle pool workers join in, up to one per CPU.
	for h := min(len(r.Items), runtime.GOMAXPROCS(0)) - 1; h > 0; h-- {
		j.wg.Add(1)
		if !offer(j) {
			j.wg.Done()
			break
		}
	}
	j.work()
	j.wg.Wait()
	return out, nil
}

// batchJob is one batch's items, worked through by whoever takes the next index.
type batchJob struct {
	next atomic.Int64
	n    int
	run  func(int)
	wg   sync.WaitGroup // the pool workers that joined
}

func (j *batchJob) work() {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.n {
			return
		}
		j.run(i)
	}
}

// The batch workers: one per CPU for the whole process, started at the first batch. Long-lived
// goroutines keep their grown stacks (a fresh goroutine per item would grow its stack through
// the crypto code every time), and a batch only takes the workers that are idle, so batches do
// not queue behind each other.
var (
	poolOnce sync.Once
	pool     chan *batchJob
)

// offer hands j to an idle worker; false when none is idle.
func offer(j *batchJob) bool {
	poolOnce.Do(func() {
		pool = make(chan *batchJob)
		for range runtime.GOMAXPROCS(0) {
			go func() {
				for j := range pool {
					j.work()
					j.wg.Done()
				}
			}()
		}
	})
	select {
	case pool <- j:
		return true
	default:
		return false
	}
}

// item runs one item through the same service method its own call would reach. ctx carries no
// caller; authed carries the batch's caller when the credential was good.
func (b *batchService) item(ctx, authed context.Context, auth *batchAuth, it *hsmpb.BatchItem) (res *hsmpb.BatchResult) {
	defer func() {
		// A panic in one item is that item's CKR_GENERAL_ERROR, as gRPC would make it of a call
		// alone (codes.Internal), not the end of the node.
		if p := recover(); p != nil {
			res = itemError(p11.Errorf(p11.CKR_GENERAL_ERROR, "panic: %v", p))
		}
	}()
	// needLogin: the items whose own calls are not public answer the login's error first.
	needLogin := func() error {
		if auth.err != nil {
			return auth.err
		}
		return nil
	}
	var resp *hsmpb.CryptResponse
	var err error
	switch op := it.Op.(type) {
	case *hsmpb.BatchItem_Sign:
		if err = needLogin(); err == nil {
			resp, err = b.v.Sign(authed, op.Sign)
		}
	case *hsmpb.BatchItem_Verify:
		if err = needLogin(); err == nil {
			_, err = b.v.Verify(authed, op.Verify)
		}
	case *hsmpb.BatchItem_Encrypt:
		if err = needLogin(); err == nil {
			resp, err = b.v.Encrypt(authed, op.Encrypt)
		}
	case *hsmpb.BatchItem_Decrypt:
		if err = needLogin(); err == nil {
			resp, err = b.v.Decrypt(authed, op.Decrypt)
		}
	case *hsmpb.BatchItem_Digest:
		resp, err = b.v.Digest(ctx, op.Digest)
	case *hsmpb.BatchItem_Random:
		resp, err = b.v.GenerateRandom(ctx, op.Random)
	default:
		err = p11.Errorf(p11.CKR_ARGUMENTS_BAD, "batch item with no operation (or one that cannot be batched)")
	}
	if err != nil {
		return itemError(err)
	}
	if resp == nil {
		resp = &hsmpb.CryptResponse{}
	}
	return &hsmpb.BatchResult{Response: resp}
}

// itemError is the per-item form of toStatus: the same detail and code the call alone returns.
func itemError(err error) *hsmpb.BatchResult {
	st := status.Convert(toStatus(err))
	for _, d := range st.Details() {
		if e, ok := d.(*hsmpb.Error); ok {
			return &hsmpb.BatchResult{Error: e, Code: uint32(st.Code())}
		}
	}
	rv := uint32(p11.CKR_DEVICE_ERROR) // as the client reads a status without the node's detail
	if st.Code() == codes.Canceled {
		rv = p11.CKR_FUNCTION_CANCELED
	}
	return &hsmpb.BatchResult{Error: &hsmpb.Error{Rv: rv, Message: st.Message()}, Code: uint32(st.Code())}
}

// registerBatch puts HSMBatch on s beside HSM.
func (v *service) registerBatch(s grpc.ServiceRegistrar) {
	hsmpb.RegisterHSMBatchServer(s, &batchService{v: v})
}
