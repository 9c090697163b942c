package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/internal/ports"
)

// The KMS against local-kms (github.com/nsmithuk/local-kms), each a process of its own on
// loopback, driven by the same aws-sdk-go-v2 client code in this process.
//
// local-kms is a benchmark-only peer: it is built here with `go install` of its module at
// localKMSVersion from the Go module proxy into a temporary directory (or HSMSIM_BENCH_LOCALKMS
// names a binary already built). It is not a requirement of hsmsim's go.mod: `go install
// pkg@version` builds a main package in its own module, so its dependencies (aws-sdk-go v1,
// goleveldb, logrus, btcec) stay out of the product's module graph and go.sum, and the checksum
// database still verifies what is downloaded.

// localKMSVersion pins local-kms (it has no release tags: the pseudo-version of its newest
// commit when this benchmark was written).
const localKMSVersion = "v0.0.0-20260228092603-2a5e92d09ab6"

// kmsPeer is one KMS process and a client for it.
type kmsPeer struct {
	name string
	c    *awskms.Client
}

var (
	kmsOnce  sync.Once
	kmsErr   error
	kmsPeers []*kmsPeer // local-kms and hsmsim
	kmsProcs []*exec.Cmd
)

// kmsBenchClient is an SDK client with a connection pool big enough for 16 concurrent callers.
func kmsBenchClient(url string) *awskms.Client {
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return awskms.New(awskms.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAHSMSIMBENCH00001", "bench/secret", ""),
		HTTPClient:  &http.Client{Transport: tr, Timeout: 30 * time.Second}})
}

// startKMSPeers builds local-kms and hsmsim and starts `local-kms` and `hsmsim kms` on free
// loopback ports, each with its data in a temporary directory.
func startKMSPeers() error {
	dir, err := os.MkdirTemp("", "hsmsim-kms-bench-")
	if err != nil {
		return err
	}
	kmsTmp = dir
	lk := os.Getenv("HSMSIM_BENCH_LOCALKMS")
	if lk == "" {
		cmd := exec.Command("go", "install", "github.com/nsmithuk/local-kms@"+localKMSVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building local-kms %s: %v\n%s", localKMSVersion, err, out)
		}
		lk = filepath.Join(dir, "local-kms")
	}
	hs, err := hsmsimBinary(dir)
	if err != nil {
		return err
	}
	base, err := ports.FreeBase(2)
	if err != nil {
		return err
	}
	lkPort, hsPort := strconv.Itoa(base), strconv.Itoa(base+1)
	lkCmd := exec.Command(lk)
	lkCmd.Env = append(os.Environ(), "PORT="+lkPort, "KMS_DATA_PATH="+filepath.Join(dir, "local-kms-data"), "KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333")
	hsCmd := exec.Command(hs, "kms", "--listen", "127.0.0.1:"+hsPort, "--data-dir", filepath.Join(dir, "hsmsim-data"), "--log-level", "error")
	for _, p := range []struct {
		name string
		cmd  *exec.Cmd
		port string
	}{{"local-kms", lkCmd, lkPort}, {"hsmsim", hsCmd, hsPort}} {
		if p.name == "hsmsim" {
			p.cmd.Stderr = os.Stderr
		} // local-kms logs every request at INFO with no way to turn it down: to /dev/null
		if err := p.cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %v", p.name, err)
		}
		kmsProcs = append(kmsProcs, p.cmd)
		peer := &kmsPeer{name: p.name, c: kmsBenchClient("http://127.0.0.1:" + p.port)}
		if err := waitKMS(peer); err != nil {
			return err
		}
		kmsPeers = append(kmsPeers, peer)
	}
	return nil
}

// waitKMS waits until a KMS answers ListKeys.
func waitKMS(p *kmsPeer) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := p.c.ListKeys(context.Background(), &awskms.ListKeysInput{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within a minute: %v", p.name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var kmsTmp string

// kmsBenchOp is one operation the benchmark compares: the key it needs and its call (setup may
// prepare, outside the timer, what the call uses, such as a ciphertext to decrypt).
type kmsBenchOp struct {
	name string
	key  awskms.CreateKeyInput
	// call is one request with key (an id).
	call func(ctx context.Context, c *awskms.Client, key string, prep []byte) error
	// setup prepares call's input (nil: none).
	setup func(ctx context.Context, c *awskms.Client, key string) ([]byte, error)
}

var plain256 = make([]byte, 256)

// kmsBenchOps are the operations compared. An operation one side does not offer (an unsupported
// key spec or operation) is skipped on that side with its reason, so the RSA and data key pair
// rows run, with no change here, as soon as hsmsim answers them (issue 12's i12-asym).
var kmsBenchOps = []kmsBenchOp{
	{name: "Encrypt-256B", call: func(ctx context.Context, c *awskms.Client, key string, _ []byte) error {
		_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain256})
		return err
	}},
	{name: "GenerateDataKey-AES256", call: func(ctx context.Context, c *awskms.Client, key string, _ []byte) error {
		_, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256})
		return err
	}},
	{name: "RSA2048-OAEP-SHA256-Encrypt-128B", key: awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt},
		call: func(ctx context.Context, c *awskms.Client, key string, _ []byte) error {
			_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain256[:128], EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
			return err
		}},
	{name: "RSA2048-OAEP-SHA256-Decrypt-128B", key: awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt},
		setup: func(ctx context.Context, c *awskms.Client, key string) ([]byte, error) {
			out, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain256[:128], EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
			if err != nil {
				return nil, err
			}
			return out.CiphertextBlob, nil
		},
		call: func(ctx context.Context, c *awskms.Client, key string, blob []byte) error {
			_, err := c.Decrypt(ctx, &awskms.DecryptInput{KeyId: aws.String(key), CiphertextBlob: blob, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
			return err
		}},
	{name: "GenerateDataKeyPair-ECC_NIST_P256", call: func(ctx context.Context, c *awskms.Client, key string, _ []byte) error {
		_, err := c.GenerateDataKeyPair(ctx, &awskms.GenerateDataKeyPairInput{KeyId: aws.String(key), KeyPairSpec: types.DataKeyPairSpecEccNistP256})
		return err
	}},
}

// unsupported says whether err is a peer's "I do not do this" (skip) rather than a failure.
func unsupported(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "UnsupportedOperationException", "UnknownOperationException", "ValidationException", "InvalidKeyUsageException":
		return true
	}
	return false
}

// kmsRounds is how many slices each peer's requests are cut into: the peers take turns slice by
// slice (the first peer alternating), so a burst of load from elsewhere on a shared machine
// falls on both rather than on whichever happened to run then.
const kmsRounds = 20

// interleaved makes total requests on each peer (call[i] is peer i's request) from n clients,
// the peers taking turns in kmsRounds slices, and returns each peer's time.
func interleaved(n, total int, calls []func() error) ([]time.Duration, error) {
	spent := make([]time.Duration, len(calls))
	for r := 0; r < kmsRounds; r++ {
		slice := total / kmsRounds
		if r < total%kmsRounds {
			slice++
		}
		for j := range calls {
			i := (j + r) % len(calls)
			start := time.Now()
			if err := fanOut(n, slice, calls[i]); err != nil {
				return nil, err
			}
			spent[i] += time.Since(start)
		}
	}
	return spent, nil
}

// fanOut makes count calls from n goroutines.
func fanOut(n, count int, call func() error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < n; g++ {
		share := count / n
		if g < count%n {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < share; k++ {
				if err := call(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// BenchmarkKMSVsLocalKMS runs each operation against local-kms and hsmsim (`hsmsim kms`, the KMS
// alone, keys in its default store) at 1 and 16 clients, b.N requests on each, the two taking
// turns (interleaved). It reports each side's requests/s and x-local-kms, hsmsim's rate over
// local-kms's (above 1: hsmsim is faster). An operation one side does not offer runs on the
// other alone.
func BenchmarkKMSVsLocalKMS(b *testing.B) {
	kmsOnce.Do(func() { kmsErr = startKMSPeers() })
	if kmsErr != nil {
		b.Fatal(kmsErr)
	}
	ctx := context.Background()
	for _, o := range kmsBenchOps {
		// One key per peer and operation, made (and its input prepared) before any timing.
		var on []*kmsPeer
		var calls []func() error
		skipped := ""
		for _, p := range kmsPeers {
			in := o.key
			k, err := p.c.CreateKey(ctx, &in)
			var prep []byte
			if err == nil && o.setup != nil {
				prep, err = o.setup(ctx, p.c, aws.ToString(k.KeyMetadata.KeyId))
			}
			if err == nil {
				err = o.call(ctx, p.c, aws.ToString(k.KeyMetadata.KeyId), prep)
			}
			switch {
			case err == nil:
				key := aws.ToString(k.KeyMetadata.KeyId)
				on = append(on, p)
				calls = append(calls, func() error { return o.call(ctx, p.c, key, prep) })
			case unsupported(err):
				var ae smithy.APIError
				errors.As(err, &ae)
				skipped += fmt.Sprintf(" %s does not offer it (%s: %s);", p.name, ae.ErrorCode(), ae.ErrorMessage())
			default:
				b.Fatalf("%s on %s: %v", o.name, p.name, err)
			}
		}
		for _, n := range clientCounts {
			b.Run(fmt.Sprintf("%s/clients=%d", o.name, n), func(b *testing.B) {
				if skipped != "" {
					b.Log(skipped)
				}
				b.ResetTimer()
				spent, err := interleaved(n, b.N, calls)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				rate := map[string]float64{}
				for i, p := range on {
					rate[p.name] = float64(b.N) / spent[i].Seconds()
					b.ReportMetric(rate[p.name], p.name+"-req/s")
				}
				if rate["hsmsim"] > 0 && rate["local-kms"] > 0 {
					b.ReportMetric(rate["hsmsim"]/rate["local-kms"], "x-local-kms")
				}
			})
		}
	}
}
