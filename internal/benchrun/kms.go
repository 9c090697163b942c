package benchrun

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSOperations are the operations a KMS target runs, by the names `hsmsim bench kms --ops`
// takes.
var KMSOperations = []string{"encrypt", "decrypt", "gdk", "sign"}

// KMS is a KMS endpoint (hsmsim, local-kms or AWS itself) driven by aws-sdk-go-v2 with retries
// off, so a throttled or failed request counts as an error instead of being hidden in a retry.
// Its keys are made on first use (or KeyID is used for encrypt, decrypt and gdk) and scheduled
// for deletion, the shortest waiting period AWS allows, by Close.
type KMS struct {
	name   string
	client *awskms.Client
	keyID  string

	mu   sync.Mutex
	keys map[string]string // by operation: the key id made for it
}

// OpenKMS makes a client for endpoint ("" for the SDK's own, i.e. AWS) in region, with the
// credentials the environment gives the SDK (for an endpoint given without any, static test
// credentials).
// keyID, when set, is the symmetric key encrypt, decrypt and gdk use instead of one they make.
func OpenKMS(ctx context.Context, name, endpoint, region, keyID string) (*KMS, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if endpoint != "" && os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_PROFILE") == "" {
		// An emulator without credentials in the environment takes any (hsmsim outside
		// --strict, local-kms): do not make the SDK search for some (its last resort, the EC2
		// metadata service, waits out a timeout off EC2).
		opts = append(opts, config.WithCredentialsProvider(staticCreds{}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	// A connection pool as big as the largest concurrency a user asks for, so the benchmark
	// measures the endpoint and not connection set-up.
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	c := awskms.NewFromConfig(cfg, func(o *awskms.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.RetryMaxAttempts = 1
		o.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	})
	return &KMS{name: name, client: c, keyID: keyID, keys: map[string]string{}}, nil
}

// staticCreds are the credentials used when the environment has none.
type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIAHSMSIMBENCH00001", SecretAccessKey: "hsmsim/bench/secret", Source: "hsmsim bench"}, nil
}

// Name labels the endpoint's results.
func (k *KMS) Name() string { return k.name }

// key is the operation's key: KeyID when given (symmetric operations), else one made once.
func (k *KMS) key(ctx context.Context, op string) (string, error) {
	sign := op == "sign"
	if !sign && k.keyID != "" {
		return k.keyID, nil
	}
	kind := "symmetric"
	in := &awskms.CreateKeyInput{Description: aws.String("hsmsim bench")}
	if sign {
		kind = "sign"
		in.KeySpec, in.KeyUsage = types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if id, ok := k.keys[kind]; ok {
		return id, nil
	}
	out, err := k.client.CreateKey(ctx, in)
	if err != nil {
		return "", fmt.Errorf("%s: CreateKey: %w", k.name, err)
	}
	k.keys[kind] = *out.KeyMetadata.KeyId
	return k.keys[kind], nil
}

// Workers gives n callers of the operation; they share the SDK client (as an application's
// goroutines do). There is nothing per run to clean up.
func (k *KMS) Workers(ctx context.Context, op string, n int) ([]Op, func(), error) {
	key, err := k.key(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	plain := make([]byte, 256)
	var call Op
	switch op {
	case "encrypt":
		call = func(ctx context.Context) error {
			_, err := k.client.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain})
			return err
		}
	case "decrypt":
		out, err := k.client.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: plain})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: Encrypt: %w", k.name, err)
		}
		blob := out.CiphertextBlob
		call = func(ctx context.Context) error {
			_, err := k.client.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: blob})
			return err
		}
	case "gdk":
		call = func(ctx context.Context) error {
			_, err := k.client.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(key), KeySpec: types.DataKeySpecAes256})
			return err
		}
	case "sign":
		digest := make([]byte, 32)
		call = func(ctx context.Context) error {
			_, err := k.client.Sign(ctx, &awskms.SignInput{KeyId: aws.String(key), Message: digest, MessageType: types.MessageTypeDigest,
				SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
			return err
		}
	default:
		return nil, nil, fmt.Errorf("unknown KMS operation %q (one of %v)", op, KMSOperations)
	}
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = call
	}
	return ops, func() {}, nil
}

// Close schedules the keys the run made for deletion (7 days, AWS's minimum).
func (k *KMS) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range k.keys {
		_, _ = k.client.ScheduleKeyDeletion(context.Background(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	}
	k.keys = map[string]string{}
	return nil
}
