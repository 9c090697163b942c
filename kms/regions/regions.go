// Package regions names the AWS Regions and their partitions: the Regions a multi-Region KMS key
// may be replicated into (ReplicateKey's ReplicaRegion must be a Region where KMS is available,
// in the same partition as the primary key). One hsmsim endpoint serves every Region; this table
// only says which names are Regions.
// https://docs.aws.amazon.com/general/latest/gr/kms.html (KMS service endpoints)
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html (partitions)
package regions

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
