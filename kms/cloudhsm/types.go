package cloudhsm

import "github.com/hsmsim/hsmsim/kms/awsapi"

// The CloudHSM V2 API's types: inputs and outputs of the ControlPlane, mirroring the model's
// shapes so that their JSON is the wire form.

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
	CreateTimestamp       *awsapi.Timestamp `json:",omitempty"`
	Hsms                  []Hsm             `json:",omitempty"`
	HsmType               string            `json:",omitempty"`
	// HsmTypeRollbackExpiration is when a migrated cluster can no longer roll back to its
	// former HSM type.
	HsmTypeRollbackExpiration *awsapi.Timestamp `json:",omitempty"`
	PreCoPassword             string            `json:",omitempty"`
	SecurityGroup             string            `json:",omitempty"`
	SourceBackupId            string            `json:",omitempty"`
	State                     string            `json:",omitempty"`
	StateMessage              string            `json:",omitempty"`
	SubnetMapping             map[string]string `json:",omitempty"`
	VpcId                     string            `json:",omitempty"`
	NetworkType               string            `json:",omitempty"`
	Certificates              *Certificates     `json:",omitempty"`
	TagList                   []HsmTag          `json:",omitempty"`
	Mode                      string            `json:",omitempty"`
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
	BackupArn       string            `json:",omitempty"`
	BackupState     string            `json:",omitempty"`
	ClusterId       string            `json:",omitempty"`
	CreateTimestamp *awsapi.Timestamp `json:",omitempty"`
	CopyTimestamp   *awsapi.Timestamp `json:",omitempty"`
	NeverExpires    bool              `json:",omitempty"`
	SourceRegion    string            `json:",omitempty"`
	SourceBackup    string            `json:",omitempty"`
	SourceCluster   string            `json:",omitempty"`
	DeleteTimestamp *awsapi.Timestamp `json:",omitempty"`
	TagList         []HsmTag          `json:",omitempty"`
	HsmType         string            `json:",omitempty"`
	Mode            string            `json:",omitempty"`
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

// CopyBackupToRegionInput is CopyBackupToRegionRequest: TagList, when given, replaces the
// source's tags on the copy.
type CopyBackupToRegionInput struct {
	DestinationRegion string
	BackupId          string
	TagList           []HsmTag
}

// DestinationBackup is the copy's lineage as CopyBackupToRegion answers it; CreateTimestamp is
// the source's.
type DestinationBackup struct {
	CreateTimestamp *awsapi.Timestamp `json:",omitempty"`
	SourceRegion    string            `json:",omitempty"`
	SourceBackup    string            `json:",omitempty"`
	SourceCluster   string            `json:",omitempty"`
}

type CopyBackupToRegionOutput struct {
	DestinationBackup *DestinationBackup
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

// ResourcePolicyInput is Get/Put/DeleteResourcePolicyRequest (Get and Delete leave Policy out).
type ResourcePolicyInput struct {
	ResourceArn string
	Policy      string
}

// ResourcePolicyOutput answers the three: Get has the Policy alone, Put and Delete the
// ResourceArn and the policy set or removed.
type ResourcePolicyOutput struct {
	ResourceArn string `json:",omitempty"`
	Policy      string `json:",omitempty"`
}
