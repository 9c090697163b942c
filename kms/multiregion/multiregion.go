// Package multiregion is the vocabulary of multi-Region KMS keys that does not depend on the KMS's
// records: their mrk- key ids, the MultiRegionConfiguration that DescribeKey shows, and the AWS
// Regions and partitions a key may be replicated into (ReplicateKey's ReplicaRegion must be a
// Region where KMS is offered, in the partition of the primary key). One hsmsim endpoint serves
// every Region; the table only says which names are Regions.
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
// https://docs.aws.amazon.com/general/latest/gr/kms.html (KMS service endpoints)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (partitions)
package multiregion

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"slices"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Prefix begins every multi-Region key id: mrk- and 32 hex digits.
const Prefix = "mrk-"

// NewKeyID is a new multi-Region key id.
func NewKeyID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return Prefix + hex.EncodeToString(b)
}

// Key is a primary or replica key of a set, as MultiRegionConfiguration names it.
type Key struct {
	Arn    string
	Region string
}

// Configuration is KeyMetadata's MultiRegionConfiguration.
type Configuration struct {
	MultiRegionKeyType string // PRIMARY or REPLICA
	PrimaryKey         *Key
	ReplicaKeys        []Key
}

// Describe is the configuration a key of the set in region shows: primary is the set's primary
// key, replicas every replica (the key itself included when it is one), listed by region.
func Describe(region string, primary Key, replicas []Key) *Configuration {
	c := &Configuration{MultiRegionKeyType: "REPLICA", PrimaryKey: &primary, ReplicaKeys: slices.Clone(replicas)}
	if region == primary.Region {
		c.MultiRegionKeyType = "PRIMARY"
	}
	if c.ReplicaKeys == nil {
		c.ReplicaKeys = []Key{}
	}
	slices.SortFunc(c.ReplicaKeys, func(a, b Key) int { return cmp.Compare(a.Region, b.Region) })
	return c
}

// CheckReplicaRegion: a Region where KMS is offered, in the partition of the primary key's
// Region, other than that Region. ReplicateKey's ReplicaRegion "must be in a different AWS Region
// than its primary key and other replicas of that primary key, but in the same AWS partition. KMS
// must be available in the replica Region." The primary's own Region is invalid input
// (ValidationException); a Region KMS does not offer, or one of another partition, is an operation
// KMS does not support (UnsupportedOperationException). primaryARN names the key in messages.
func CheckReplicaRegion(primaryARN, primaryRegion, region string) *awsapi.Error {
	if region == primaryRegion {
		return awsapi.NewError(awsapi.ValidationException, "The replica Region %s is the Region of the primary key %s.", region, primaryARN)
	}
	want, ok := Partition(primaryRegion)
	if !ok {
		want = "aws"
	}
	if got, ok := Partition(region); !ok || got != want {
		return awsapi.NewError("UnsupportedOperationException", "%s is not a Region of the %s partition where KMS can replicate %s.", region, want, primaryARN)
	}
	return nil
}

// partitions lists the Regions of each partition in which KMS is offered.
var partitions = map[string][]string{
	"aws": {
		"us-east-1", "us-east-2", "us-west-1", "us-west-2",
		"af-south-1",
		"ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
		"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
		"ca-central-1", "ca-west-1",
		"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
		"il-central-1", "me-central-1", "me-south-1", "mx-central-1", "sa-east-1",
	},
	"aws-cn":     {"cn-north-1", "cn-northwest-1"},
	"aws-us-gov": {"us-gov-east-1", "us-gov-west-1"},
}

var partitionOf = func() map[string]string {
	m := map[string]string{}
	for p, rs := range partitions {
		for _, r := range rs {
			m[r] = p
		}
	}
	return m
}()

// Partition is the partition of region ("aws", "aws-cn", "aws-us-gov"), and false when region
// is not a Region where KMS is offered.
func Partition(region string) (string, bool) {
	p, ok := partitionOf[region]
	return p, ok
}
