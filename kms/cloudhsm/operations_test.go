package cloudhsm_test

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestEveryOperationIsAnswered walks the operations of the CloudHSM V2 model (the table awsapi
// generates from it) and calls each through the SDK with a minimal valid request: each is
// answered, either with success or with an exception the model lists for that operation. The
// SDK decodes an operation's modelled exceptions into their types and anything else
// (UnknownOperationException, an exception of another operation) into a smithy.GenericAPIError,
// which is how this test tells them apart without the model's file.
func TestEveryOperationIsAnswered(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	cc, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	check(t, err)
	cluster := cc.Cluster.ClusterId
	const (
		noCluster = "cluster-aaaaaaaaaaa"
		noBackup  = "backup-aaaaaaaaaaa"
		noHsm     = "hsm-aaaaaaaaaaa"
		noArn     = "arn:aws:cloudhsm:us-east-1:" + ownerAccount + ":backup/" + noBackup
	)
	tag := []hsmtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	calls := map[string]func() error{
		"CopyBackupToRegion": func() error {
			_, err := c.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(noBackup), DestinationRegion: aws.String("us-west-2")})
			return err
		},
		"CreateCluster": func() error {
			_, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{cloudhsm.SubnetID("us-east-1b")}})
			return err
		},
		"CreateHsm": func() error {
			_, err := c.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: aws.String(noCluster), AvailabilityZone: aws.String("us-east-1a")})
			return err
		},
		"DeleteBackup": func() error {
			_, err := c.DeleteBackup(ctx(), &hsm.DeleteBackupInput{BackupId: aws.String(noBackup)})
			return err
		},
		"DeleteCluster": func() error {
			_, err := c.DeleteCluster(ctx(), &hsm.DeleteClusterInput{ClusterId: aws.String(noCluster)})
			return err
		},
		"DeleteHsm": func() error {
			_, err := c.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: cluster, HsmId: aws.String(noHsm)})
			return err
		},
		"DeleteResourcePolicy": func() error {
			_, err := c.DeleteResourcePolicy(ctx(), &hsm.DeleteResourcePolicyInput{ResourceArn: aws.String(noArn)})
			return err
		},
		"DescribeBackups": func() error {
			_, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{})
			return err
		},
		"DescribeClusters": func() error {
			_, err := c.DescribeClusters(ctx(), &hsm.DescribeClustersInput{})
			return err
		},
		"GetResourcePolicy": func() error {
			_, err := c.GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(noArn)})
			return err
		},
		"InitializeCluster": func() error {
			_, err := c.InitializeCluster(ctx(), &hsm.InitializeClusterInput{ClusterId: cluster, SignedCert: aws.String("x"), TrustAnchor: aws.String("x")})
			return err
		},
		"ListTags": func() error {
			_, err := c.ListTags(ctx(), &hsm.ListTagsInput{ResourceId: cluster})
			return err
		},
		"ModifyBackupAttributes": func() error {
			_, err := c.ModifyBackupAttributes(ctx(), &hsm.ModifyBackupAttributesInput{BackupId: aws.String(noBackup), NeverExpires: aws.Bool(true)})
			return err
		},
		"ModifyCluster": func() error {
			_, err := c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: cluster,
				BackupRetentionPolicy: &hsmtypes.BackupRetentionPolicy{Type: hsmtypes.BackupRetentionTypeDays, Value: aws.String("30")}})
			return err
		},
		"PutResourcePolicy": func() error {
			_, err := c.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String(noArn), Policy: aws.String(sharePolicy(consumerAccount, noArn))})
			return err
		},
		"RestoreBackup": func() error {
			_, err := c.RestoreBackup(ctx(), &hsm.RestoreBackupInput{BackupId: aws.String(noBackup)})
			return err
		},
		"TagResource": func() error {
			_, err := c.TagResource(ctx(), &hsm.TagResourceInput{ResourceId: cluster, TagList: tag})
			return err
		},
		"UntagResource": func() error {
			_, err := c.UntagResource(ctx(), &hsm.UntagResourceInput{ResourceId: cluster, TagKeyList: []string{"k"}})
			return err
		},
	}
	ops := awsapi.CloudHSMV2.Operations()
	if len(ops) != len(calls) {
		t.Errorf("the model has %d operations, the test calls %d", len(ops), len(calls))
	}
	for _, op := range ops {
		call, ok := calls[op]
		if !ok {
			t.Errorf("%s: an operation of the model this test does not call", op)
			continue
		}
		err := call()
		if err == nil {
			t.Logf("%s: answered", op)
			continue
		}
		var ae smithy.APIError
		var generic *smithy.GenericAPIError
		switch {
		case !errors.As(err, &ae):
			t.Errorf("%s: not an AWS error: %v", op, err)
		case errors.As(err, &generic):
			t.Errorf("%s: %s is not an exception the model lists for it: %v", op, ae.ErrorCode(), err)
		default:
			t.Logf("%s: %s (modelled)", op, ae.ErrorCode())
		}
	}
}
