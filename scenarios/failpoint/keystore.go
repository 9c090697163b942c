package failpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// The custom key store actions, each one call of the KMS API (reconnect two) on a key store of
// the setup, an operator action whose exact result the scenario expects: disconnect-keystore,
// connect-keystore, reconnect-keystore, update-keystore (a new kmsuser password, or the cluster
// a restore-backup fault made), kms-create-key.
func init() {
	for _, k := range []struct {
		name, doc string
		call      func(ctx context.Context, in *Injector, f *spec.Fault, id string) error
	}{
		{"disconnect-keystore", "disconnect a custom key store", func(ctx context.Context, in *Injector, _ *spec.Fault, id string) error {
			_, err := in.KMS.DisconnectCustomKeyStore(ctx, &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		}},
		{"connect-keystore", "connect a custom key store", func(ctx context.Context, in *Injector, _ *spec.Fault, id string) error {
			_, err := in.KMS.ConnectCustomKeyStore(ctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		}},
		{"reconnect-keystore", "disconnect and connect a custom key store", func(ctx context.Context, in *Injector, _ *spec.Fault, id string) error {
			_, err := in.KMS.DisconnectCustomKeyStore(ctx, &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			if err != nil && history.ErrorCode(err) != "CustomKeyStoreInvalidStateException" {
				return err
			}
			_, err = in.KMS.ConnectCustomKeyStore(ctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
			return err
		}},
		{"update-keystore", "UpdateCustomKeyStore (password, cluster)", updateStore},
		{"kms-create-key", "CreateKey in a custom key store", func(ctx context.Context, in *Injector, f *spec.Fault, id string) error {
			out, err := in.KMS.CreateKey(ctx, &awskms.CreateKeyInput{CustomKeyStoreId: aws.String(id), Origin: types.OriginTypeAwsCloudhsm})
			if err == nil {
				in.TL.AddEvent(history.Event{Kind: history.EvNote, Name: f.Name, Detail: "created " + aws.ToString(out.KeyMetadata.KeyId)})
			}
			return err
		}},
	} {
		Register(Family{
			FaultKind: spec.FaultKind{Name: k.name, Validate: validateStore},
			Doc:       k.doc,
			Describe:  describeStore,
			Available: func(t Target) error {
				if _, ok := t.(KMSHost); !ok {
					return lacks("the KMS")
				}
				return nil
			},
			Action: true,
			Inject: func(ctx context.Context, in *Injector, x *Injection) error {
				if in.KMS == nil {
					return errors.New("no KMS in this scenario")
				}
				in.Reg.Lock()
				id := in.Reg.Stores[x.F.Store]
				in.Reg.Unlock()
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				return k.call(cctx, in, x.F, id)
			},
		})
	}
}

func validateStore(c *spec.FaultCheck, f *spec.Fault) {
	c.Store(f)
	if f.Cluster != "" {
		if r := c.Scenario.Fault(f.Cluster); f.Do != "update-keystore" || r == nil || r.Do != doRestoreBackup {
			c.Errorf("cluster", "%q: update-keystore's cluster names a restore-backup fault", f.Cluster)
		}
	}
	c.KMSUserStep(f)
}

func describeStore(f *spec.Fault) string {
	s := fmt.Sprintf("%s %s", f.Do, f.Store)
	if f.Cluster != "" {
		s += " to the cluster restored by " + f.Cluster
	}
	if f.Expect != "ok" {
		s += ", expecting " + f.Expect
	}
	return s
}

// updateStore is UpdateCustomKeyStore with the password the fault gives (default: the one the
// scenario knows), or with the cluster a restore-backup fault made (and the password only if
// given).
func updateStore(ctx context.Context, in *Injector, f *spec.Fault, id string) error {
	inp := &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)}
	if f.Cluster != "" {
		r, ok := in.Target.(Restorer)
		cid := ""
		if ok {
			cid = r.RestoredCluster(f.Cluster)
		}
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
	_, err := in.KMS.UpdateCustomKeyStore(ctx, inp)
	return err
}
