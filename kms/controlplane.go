package kms

import (
	"context"
	"encoding/json"
	"time"
)

// ControlPlane is the CloudHSM V2 API (BaldrApiService) the cluster layer provides: the endpoint
// decodes and validates each request against the model, hands it over typed, and encodes the
// answer. Return an *Error (NewError with one of the ErrHsm* exception names) to choose the
// exception; any other error becomes CloudHsmInternalFailureException. The types mirror the
// model's shapes, so their JSON is the wire form. Embed NotImplemented to offer a subset.
type ControlPlane interface {
	CreateCluster(ctx context.Context, r *Request, in *CreateClusterInput) (*ClusterOutput, error)
	DescribeClusters(ctx context.Context, r *Request, in *DescribeClustersInput) (*DescribeClustersOutput, error)
	InitializeCluster(ctx context.Context, r *Request, in *InitializeClusterInput) (*InitializeClusterOutput, error)
	ModifyCluster(ctx context.Context, r *Request, in *ModifyClusterInput) (*ClusterOutput, error)
	DeleteCluster(ctx context.Context, r *Request, in *ClusterIDInput) (*ClusterOutput, error)
	CreateHsm(ctx context.Context, r *Request, in *CreateHsmInput) (*CreateHsmOutput, error)
	DeleteHsm(ctx context.Context, r *Request, in *DeleteHsmInput) (*DeleteHsmOutput, error)
	DescribeBackups(ctx context.Context, r *Request, in *DescribeBackupsInput) (*DescribeBackupsOutput, error)
	RestoreBackup(ctx context.Context, r *Request, in *BackupIDInput) (*BackupOutput, error)
	DeleteBackup(ctx context.Context, r *Request, in *BackupIDInput) (*BackupOutput, error)
	ModifyBackupAttributes(ctx context.Context, r *Request, in *ModifyBackupAttributesInput) (*BackupOutput, error)
	TagResource(ctx context.Context, r *Request, in *TagResourceInput) error
	UntagResource(ctx context.Context, r *Request, in *UntagResourceInput) error
	ListTags(ctx context.Context, r *Request, in *ListTagsInput) (*ListTagsOutput, error)
}

// Request says who calls: the account and region of the SigV4 scope (or the server's defaults).
type Request struct {
	Account, Region, AccessKey string
}

// NotImplemented answers every CloudHSM call as an endpoint that does not offer it.
type NotImplemented struct{}

var _ ControlPlane = NotImplemented{}

func notImplemented(op string) error {
	return newError(errUnknownOperation, "hsmsim's CloudHSM control plane does not offer %s", op)
}

func (NotImplemented) CreateCluster(context.Context, *Request, *CreateClusterInput) (*ClusterOutput, error) {
	return nil, notImplemented("CreateCluster")
}
func (NotImplemented) DescribeClusters(context.Context, *Request, *DescribeClustersInput) (*DescribeClustersOutput, error) {
	return nil, notImplemented("DescribeClusters")
}
func (NotImplemented) InitializeCluster(context.Context, *Request, *InitializeClusterInput) (*InitializeClusterOutput, error) {
	return nil, notImplemented("InitializeCluster")
}
func (NotImplemented) ModifyCluster(context.Context, *Request, *ModifyClusterInput) (*ClusterOutput, error) {
	return nil, notImplemented("ModifyCluster")
}
func (NotImplemented) DeleteCluster(context.Context, *Request, *ClusterIDInput) (*ClusterOutput, error) {
	return nil, notImplemented("DeleteCluster")
}
func (NotImplemented) CreateHsm(context.Context, *Request, *CreateHsmInput) (*CreateHsmOutput, error) {
	return nil, notImplemented("CreateHsm")
}
func (NotImplemented) DeleteHsm(context.Context, *Request, *DeleteHsmInput) (*DeleteHsmOutput, error) {
	return nil, notImplemented("DeleteHsm")
}
func (NotImplemented) DescribeBackups(context.Context, *Request, *DescribeBackupsInput) (*DescribeBackupsOutput, error) {
	return nil, notImplemented("DescribeBackups")
}
func (NotImplemented) RestoreBackup(context.Context, *Request, *BackupIDInput) (*BackupOutput, error) {
	return nil, notImplemented("RestoreBackup")
}
func (NotImplemented) DeleteBackup(context.Context, *Request, *BackupIDInput) (*BackupOutput, error) {
	return nil, notImplemented("DeleteBackup")
}
func (NotImplemented) ModifyBackupAttributes(context.Context, *Request, *ModifyBackupAttributesInput) (*BackupOutput, error) {
	return nil, notImplemented("ModifyBackupAttributes")
}
func (NotImplemented) TagResource(context.Context, *Request, *TagResourceInput) error {
	return notImplemented("TagResource")
}
func (NotImplemented) UntagResource(context.Context, *Request, *UntagResourceInput) error {
	return notImplemented("UntagResource")
}
func (NotImplemented) ListTags(context.Context, *Request, *ListTagsInput) (*ListTagsOutput, error) {
	return nil, notImplemented("ListTags")
}

// Timestamp is a CloudHSM timestamp (epoch seconds on the wire).
type Timestamp time.Time

func (t Timestamp) MarshalJSON() ([]byte, error) { return epoch(t).MarshalJSON() }

// HsmTag is a CloudHSM tag (Key/Value, unlike KMS's TagKey/TagValue).
type HsmTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type BackupRetentionPolicy struct {
	Type  string `json:"Type,omitempty"`
	Value string `json:"Value,omitempty"`
}

type CreateClusterInput struct {
	BackupRetentionPolicy *BackupRetentionPolicy
	HsmType               string
	SourceBackupId        string
	SubnetIds             []string
	NetworkType           string
	TagList               []HsmTag
	Mode                  string
}

type Certificates struct {
	ClusterCsr                      string `json:",omitempty"`
	HsmCertificate                  string `json:",omitempty"`
	AwsHardwareCertificate          string `json:",omitempty"`
	ManufacturerHardwareCertificate string `json:",omitempty"`
	ClusterCertificate              string `json:",omitempty"`
}

type Hsm struct {
	AvailabilityZone string `json:",omitempty"`
	ClusterId        string `json:",omitempty"`
	SubnetId         string `json:",omitempty"`
	EniId            string `json:",omitempty"`
	EniIp            string `json:",omitempty"`
	HsmId            string
	HsmType          string `json:",omitempty"`
	State            string `json:",omitempty"`
	StateMessage     string `json:",omitempty"`
}

type ClusterDescription struct {
	BackupPolicy          string                 `json:",omitempty"`
	BackupRetentionPolicy *BackupRetentionPolicy `json:",omitempty"`
	ClusterId             string
	CreateTimestamp       *Timestamp        `json:",omitempty"`
	Hsms                  []Hsm             `json:",omitempty"`
	HsmType               string            `json:",omitempty"`
	PreCoPassword         string            `json:",omitempty"`
	SecurityGroup         string            `json:",omitempty"`
	SourceBackupId        string            `json:",omitempty"`
	State                 string            `json:",omitempty"`
	StateMessage          string            `json:",omitempty"`
	SubnetMapping         map[string]string `json:",omitempty"`
	VpcId                 string            `json:",omitempty"`
	NetworkType           string            `json:",omitempty"`
	Certificates          *Certificates     `json:",omitempty"`
	TagList               []HsmTag          `json:",omitempty"`
	Mode                  string            `json:",omitempty"`
}

type ClusterOutput struct {
	Cluster *ClusterDescription
}

type DescribeClustersInput struct {
	Filters    map[string][]string
	NextToken  string
	MaxResults *int
}

type DescribeClustersOutput struct {
	Clusters  []ClusterDescription
	NextToken string `json:",omitempty"`
}

type InitializeClusterInput struct {
	ClusterId   string
	SignedCert  string
	TrustAnchor string
}

type InitializeClusterOutput struct {
	State        string
	StateMessage string `json:",omitempty"`
}

type ModifyClusterInput struct {
	HsmType               string
	BackupRetentionPolicy *BackupRetentionPolicy
	ClusterId             string
}

type ClusterIDInput struct {
	ClusterId string
}

type CreateHsmInput struct {
	ClusterId        string
	AvailabilityZone string
	IpAddress        string
}

type CreateHsmOutput struct {
	Hsm *Hsm
}

type DeleteHsmInput struct {
	ClusterId string
	HsmId     string
	EniId     string
	EniIp     string
}

type DeleteHsmOutput struct {
	HsmId string
}

type Backup struct {
	BackupId        string
	BackupArn       string     `json:",omitempty"`
	BackupState     string     `json:",omitempty"`
	ClusterId       string     `json:",omitempty"`
	CreateTimestamp *Timestamp `json:",omitempty"`
	CopyTimestamp   *Timestamp `json:",omitempty"`
	NeverExpires    bool       `json:",omitempty"`
	SourceRegion    string     `json:",omitempty"`
	SourceBackup    string     `json:",omitempty"`
	SourceCluster   string     `json:",omitempty"`
	DeleteTimestamp *Timestamp `json:",omitempty"`
	TagList         []HsmTag   `json:",omitempty"`
	HsmType         string     `json:",omitempty"`
	Mode            string     `json:",omitempty"`
}

type DescribeBackupsInput struct {
	NextToken     string
	MaxResults    *int
	Filters       map[string][]string
	Shared        bool
	SortAscending bool
}

type DescribeBackupsOutput struct {
	Backups   []Backup
	NextToken string `json:",omitempty"`
}

type BackupIDInput struct {
	BackupId string
}

// ModifyBackupAttributesInput is ModifyBackupAttributesRequest: NeverExpires exempts a backup
// from the cluster's retention policy.
type ModifyBackupAttributesInput struct {
	BackupId     string
	NeverExpires bool
}

type BackupOutput struct {
	Backup *Backup
}

type TagResourceInput struct {
	ResourceId string
	TagList    []HsmTag
}

type UntagResourceInput struct {
	ResourceId string
	TagKeyList []string
}

type ListTagsInput struct {
	ResourceId string
	NextToken  string
	MaxResults *int
}

type ListTagsOutput struct {
	TagList   []HsmTag
	NextToken string `json:",omitempty"`
}

// hsmOp adapts a ControlPlane method to a handler; a plain Go error from the control plane is
// CloudHsmInternalFailureException, not KMS's internal error.
func hsmOp[In, Out any](f func(cp ControlPlane, ctx context.Context, r *Request, in *In) (*Out, error)) handler {
	return func(s *Server, ctx context.Context, c *caller, body []byte) (any, error) {
		var in In
		if len(body) > 0 {
			if err := json.Unmarshal(body, &in); err != nil {
				return nil, newError(errSerialization, "Unable to decode the request body: %v", err)
			}
		}
		out, err := f(s.cp, ctx, &Request{Account: c.Account, Region: c.Region, AccessKey: c.AccessKey}, &in)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				return nil, newError(ErrHsmInternalFailure, "%v", err)
			}
			return nil, err
		}
		if out == nil {
			return empty{}, nil
		}
		return out, nil
	}
}

var hsmHandlers = map[string]handler{
	"CreateCluster": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *CreateClusterInput) (*ClusterOutput, error) {
		return cp.CreateCluster(ctx, r, in)
	}),
	"DescribeClusters": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *DescribeClustersInput) (*DescribeClustersOutput, error) {
		return cp.DescribeClusters(ctx, r, in)
	}),
	"InitializeCluster": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *InitializeClusterInput) (*InitializeClusterOutput, error) {
		return cp.InitializeCluster(ctx, r, in)
	}),
	"ModifyCluster": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *ModifyClusterInput) (*ClusterOutput, error) {
		return cp.ModifyCluster(ctx, r, in)
	}),
	"DeleteCluster": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *ClusterIDInput) (*ClusterOutput, error) {
		return cp.DeleteCluster(ctx, r, in)
	}),
	"CreateHsm": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *CreateHsmInput) (*CreateHsmOutput, error) {
		return cp.CreateHsm(ctx, r, in)
	}),
	"DeleteHsm": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *DeleteHsmInput) (*DeleteHsmOutput, error) {
		return cp.DeleteHsm(ctx, r, in)
	}),
	"DescribeBackups": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *DescribeBackupsInput) (*DescribeBackupsOutput, error) {
		return cp.DescribeBackups(ctx, r, in)
	}),
	"RestoreBackup": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *BackupIDInput) (*BackupOutput, error) {
		return cp.RestoreBackup(ctx, r, in)
	}),
	"DeleteBackup": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *BackupIDInput) (*BackupOutput, error) {
		return cp.DeleteBackup(ctx, r, in)
	}),
	"ModifyBackupAttributes": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *ModifyBackupAttributesInput) (*BackupOutput, error) {
		return cp.ModifyBackupAttributes(ctx, r, in)
	}),
	"TagResource": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *TagResourceInput) (*empty, error) {
		return nil, cp.TagResource(ctx, r, in)
	}),
	"UntagResource": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *UntagResourceInput) (*empty, error) {
		return nil, cp.UntagResource(ctx, r, in)
	}),
	"ListTags": hsmOp(func(cp ControlPlane, ctx context.Context, r *Request, in *ListTagsInput) (*ListTagsOutput, error) {
		return cp.ListTags(ctx, r, in)
	}),
}
