package cloudhsm

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// TestCloudHSMRouting: BaldrApiService reaches the ControlPlane; the SDK's cloudhsmv2 client
// decodes its answers and its typed exceptions.
func TestCloudHSMRouting(t *testing.T) {
	hs := httptest.NewServer(awsapi.NewEndpoint(awsapi.Config{}, NewAPI(fakeControlPlane{})))
	defer hs.Close()
	ctx := context.Background()
	c := cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAHSMSIMTEST000001", "hsmsim/test/secret/key/0000000000000000", "")})
	out, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].ClusterId) != "cluster-abcdefghijk" || len(out.Clusters[0].Hsms) != 2 ||
		aws.ToString(out.Clusters[0].Hsms[1].AvailabilityZone) != "us-east-1b" || out.Clusters[0].CreateTimestamp == nil {
		t.Fatalf("DescribeClusters: %+v", out.Clusters)
	}
	_, err = c.DeleteCluster(ctx, &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String("cluster-abcdefghijk")})
	wantAPIError(t, err, "CloudHsmResourceNotFoundException")
	_, err = c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: aws.String("backup-abcdefghijk"), DestinationRegion: aws.String("us-west-2")})
	wantAPIError(t, err, "UnknownOperationException")
}

type fakeControlPlane struct{ NotImplemented }

func (fakeControlPlane) DescribeClusters(_ context.Context, _ *awsapi.Caller, _ *DescribeClustersInput) (*DescribeClustersOutput, error) {
	return &DescribeClustersOutput{Clusters: []ClusterDescription{{ClusterId: "cluster-abcdefghijk", State: "ACTIVE", CreateTimestamp: awsapi.Time(time.Now()),
		Hsms: []Hsm{{HsmId: "hsm-aaaaaaaaaaa", AvailabilityZone: "us-east-1a", State: "ACTIVE"}, {HsmId: "hsm-bbbbbbbbbbb", AvailabilityZone: "us-east-1b", State: "ACTIVE"}}}}}, nil
}

func (fakeControlPlane) DeleteCluster(_ context.Context, _ *awsapi.Caller, in *ClusterIDInput) (*ClusterOutput, error) {
	return nil, awsapi.NewError(errResourceNotFound, "cluster %s not found", in.ClusterId)
}

// wantAPIError checks that err is the AWS exception code as the SDK decodes it.
func wantAPIError(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}
