package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
	"github.com/hsmsim/hsmsim/scenarios/traffic"
)

// setup runs the scenario's setup steps in order.
func setup(ctx context.Context, s *spec.Scenario, env Target, reg *target.Registry, kc *awskms.Client, res *Result) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	adm, err := env.Admin(ctx, "setup-admin")
	if err != nil {
		return err
	}
	defer adm.Close()
	defer func() { _ = adm.Logout(context.WithoutCancel(ctx)) }()
	for _, st := range s.Setup {
		t0 := time.Now()
		var what string
		switch st.Kind {
		case spec.StepUser, spec.StepKMSUser:
			name := st.Name
			if st.Kind == spec.StepKMSUser {
				name = "kmsuser"
			}
			if err := adm.CreateUser(ctx, name, hsmpb.Role_ROLE_CRYPTO_USER, st.Password); err != nil {
				return fmt.Errorf("%s: creating %s: %w", st.Pos, name, err)
			}
			reg.Lock()
			if st.Kind == spec.StepKMSUser {
				reg.KMSUserPass = st.Password
			} else {
				reg.Users[name] = st.Password
			}
			reg.Unlock()
			what = "crypto user " + name
		case spec.StepKey:
			h, err := setupKey(ctx, env, reg, st, adm.Session().Index())
			if err != nil {
				return fmt.Errorf("%s: key %s: %w", st.Pos, st.Name, err)
			}
			reg.Lock()
			reg.HSMKeys[st.Name] = h
			reg.Unlock()
			what = fmt.Sprintf("%s key %s of %s: handle %d", st.Type, st.Name, st.Owner, h)
		case spec.StepKeyStore:
			// The KMS is a client of its own: it logs in as kmsuser on whichever HSM it dials,
			// which must have applied kmsuser's creation (an HSM answers a login from its own
			// token, and another client's writes do not order this one's reads).
			if err := waitApplied(ctx, env, adm.Session().Index(), 20*time.Millisecond); err != nil {
				return fmt.Errorf("%s: key store %s: %w", st.Pos, st.Name, err)
			}
			id, err := setupStore(ctx, env, reg, kc, st)
			if err != nil {
				return fmt.Errorf("%s: key store %s: %w", st.Pos, st.Name, err)
			}
			what = fmt.Sprintf("custom key store %s: %s", st.Name, id)
		case spec.StepKMSKey:
			in := &awskms.CreateKeyInput{Description: aws.String(st.Name)}
			if st.Store != "" {
				reg.Lock()
				in.CustomKeyStoreId, in.Origin = aws.String(reg.Stores[st.Store]), types.OriginTypeAwsCloudhsm
				reg.Unlock()
			}
			out, err := kc.CreateKey(ctx, in)
			if err != nil {
				return fmt.Errorf("%s: kms key %s: %w", st.Pos, st.Name, err)
			}
			reg.Lock()
			reg.KMSKeys[st.Name] = aws.ToString(out.KeyMetadata.KeyId)
			reg.Unlock()
			what = fmt.Sprintf("KMS key %s: %s", st.Name, aws.ToString(out.KeyMetadata.KeyId))
		}
		res.Setup = append(res.Setup, fmt.Sprintf("%s (%s)", what, time.Since(t0).Round(time.Millisecond)))
	}
	return nil
}

// setupKey makes a key as its owner. The owner's client starts from the admin's last write
// (index), so the node it logs in on already has the owner the admin just created.
func setupKey(ctx context.Context, env Target, reg *target.Registry, st spec.Step, index uint64) (uint32, error) {
	cl, err := env.Client("setup-"+st.Owner, nil)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	cl.Session().Observe(index)
	reg.Lock()
	pw := reg.Users[st.Owner]
	reg.Unlock()
	if _, err := cl.Login(ctx, st.Owner, pw); err != nil {
		return 0, err
	}
	defer func() { _ = cl.Logout(context.WithoutCancel(ctx)) }()
	label := attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(st.Name)}
	if st.Type == "aes-256" {
		return cl.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(traffic.AESTemplate(), label))
	}
	_, priv, err := cl.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{{Type: p11.CKA_EC_PARAMS, Value: traffic.P256}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VERIFY, Value: attr.Bool(true)}, label},
		[]attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}, label})
	return priv, err
}

// appliedReader is what waitApplied reads of a target.
type appliedReader interface {
	Nodes() []target.NodeInfo
	Applied(label string) (uint64, bool)
}

// waitApplied waits until every running HSM of the scenario's cluster has applied index.
func waitApplied(ctx context.Context, t appliedReader, index uint64, every time.Duration) error {
	for {
		behind := ""
		for _, n := range t.Nodes() {
			if !n.Up || n.Removed || n.Cluster != "" {
				continue
			}
			if a, ok := t.Applied(n.Label); ok && a < index {
				behind = fmt.Sprintf("%s applied %d", n.Label, a)
			}
		}
		if behind == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for every HSM to apply index %d: %s: %w", index, behind, ctx.Err())
		case <-time.After(every):
		}
	}
}

func setupStore(ctx context.Context, env Target, reg *target.Registry, kc *awskms.Client, st spec.Step) (string, error) {
	kt, ok := env.(kmsTarget)
	if !ok {
		return "", errors.New("the target runs no KMS")
	}
	reg.Lock()
	pw := reg.KMSUserPass
	reg.Unlock()
	out, err := kc.CreateCustomKeyStore(ctx, &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(st.Name),
		CloudHsmClusterId: aws.String(env.ClusterID()), TrustAnchorCertificate: aws.String(string(kt.TrustAnchorPEM())),
		KeyStorePassword: aws.String(pw)})
	if err != nil {
		return "", err
	}
	id := aws.ToString(out.CustomKeyStoreId)
	reg.Lock()
	reg.Stores[st.Name] = id
	reg.Unlock()
	if !st.Connect {
		return id, nil
	}
	if _, err := kc.ConnectCustomKeyStore(ctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}); err != nil {
		return id, err
	}
	for {
		state, err := storeState(ctx, kc, id)
		if err != nil {
			return id, err
		}
		switch {
		case state == "CONNECTED":
			return id, nil
		case state != "CONNECTING":
			return id, fmt.Errorf("connecting: %s", state)
		}
		select {
		case <-ctx.Done():
			return id, fmt.Errorf("still CONNECTING: %w", ctx.Err())
		case <-time.After(storePoll):
		}
	}
}

// storePoll is how often setup asks whether a key store connected: under DescribeCustomKeyStores'
// request quota (5 a second, shared by the custom key store APIs: "Request quotas", AWS KMS
// Developer Guide), which the capacity profile enforces. A store that takes longer than the
// bucket lasts to connect (a login on hsmd processes) was throttled at 20 ms.
const storePoll = 250 * time.Millisecond
