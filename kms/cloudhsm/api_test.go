package cloudhsm_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestCloudHSMRouting: BaldrApiService reaches the ControlPlane; the SDK's cloudhsmv2 client
// decodes its answers and its typed exceptions.
func TestCloudHSMRouting(t *testing.T) {
	hs := httptest.NewServer(awsapi.NewEndpoint(awsapi.Config{}, cloudhsm.NewAPI(fakeControlPlane{})))
	defer hs.Close()
	c := cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAHSMSIMTEST000001", "hsmsim/test/secret/key/0000000000000000", "")})
	out, err := c.DescribeClusters(ctx(), &cloudhsmv2.DescribeClustersInput{})
	check(t, err)
	if len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterId) != "cluster-abcdefghijk" || len(out.Clusters[0].Hsms) != 2 ||
		aws.ToString(out.Clusters[0].Hsms[1].AvailabilityZone) != "us-east-1b" || out.Clusters[0].CreateTimestamp == nil {
		t.Fatalf("DescribeClusters: %+v", out.Clusters)
	}
	_, err = c.DeleteCluster(ctx(), &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String("cluster-abcdefghijk")})
	wantErr(t, err, "CloudHsmResourceNotFoundException")
	_, err = c.CopyBackupToRegion(ctx(), &cloudhsmv2.CopyBackupToRegionInput{BackupId: aws.String("backup-abcdefghijk"), DestinationRegion: aws.String("us-west-2")})
	wantErr(t, err, "UnknownOperationException")
}

type fakeControlPlane struct{ cloudhsm.NotImplemented }

func (fakeControlPlane) DescribeClusters(_ context.Context, _ *awsapi.Caller, _ *cloudhsm.DescribeClustersInput) (*cloudhsm.DescribeClustersOutput, error) {
	return &cloudhsm.DescribeClustersOutput{Clusters: []cloudhsm.ClusterDescription{{ClusterId: "cluster-abcdefghijk", State: "ACTIVE", CreateTimestamp: awsapi.Time(time.Now()),
		Hsms: []cloudhsm.Hsm{{HsmId: "hsm-aaaaaaaaaaa", AvailabilityZone: "us-east-1a", State: "ACTIVE"}, {HsmId: "hsm-bbbbbbbbbbb", AvailabilityZone: "us-east-1b", State: "ACTIVE"}}}}}, nil
}

func (fakeControlPlane) DeleteCluster(_ context.Context, _ *awsapi.Caller, in *cloudhsm.ClusterIDInput) (*cloudhsm.ClusterOutput, error) {
	return nil, awsapi.NewError("CloudHsmResourceNotFoundException", "cluster %s not found", in.ClusterId)
}
