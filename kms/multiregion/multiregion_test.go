package multiregion

import (
	"regexp"
	"testing"
)

func TestKeyIDs(t *testing.T) {
	a, b := NewKeyID(), NewKeyID()
	if !regexp.MustCompile(`^mrk-[0-9a-f]{32}$`).MatchString(a) || a == b {
		t.Fatalf("key ids %s %s", a, b)
	}
}

// TestDescribe: the primary and the replicas of a set, by region, from either side.
func TestDescribe(t *testing.T) {
	p := Key{Arn: "arn:aws:kms:us-east-1:111122223333:key/mrk-1", Region: "us-east-1"}
	rs := []Key{{Arn: "arn:aws:kms:us-west-2:111122223333:key/mrk-1", Region: "us-west-2"}, {Arn: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1", Region: "eu-west-1"}}
	c := Describe("us-east-1", p, rs)
	if c.MultiRegionKeyType != "PRIMARY" || *c.PrimaryKey != p || c.ReplicaKeys[0].Region != "eu-west-1" || c.ReplicaKeys[1].Region != "us-west-2" {
		t.Fatalf("from the primary: %+v", c)
	}
	if rs[0].Region != "us-west-2" {
		t.Fatal("Describe reordered its argument")
	}
	if c := Describe("us-west-2", p, rs); c.MultiRegionKeyType != "REPLICA" {
		t.Fatalf("from a replica: %+v", c)
	}
	if c := Describe("us-east-1", p, nil); c.ReplicaKeys == nil || len(c.ReplicaKeys) != 0 {
		t.Fatal("no replicas is an empty list, not null")
	}
}

func TestCheckReplicaRegion(t *testing.T) {
	for _, tc := range []struct{ primary, replica, want string }{
		{"us-east-1", "eu-west-1", ""},
		{"us-east-1", "us-east-1", "ValidationException"},
		{"us-east-1", "cn-north-1", "UnsupportedOperationException"},
		{"us-east-1", "xx-nowhere-1", "UnsupportedOperationException"},
		{"cn-north-1", "cn-northwest-1", ""},
		{"us-gov-west-1", "us-east-1", "UnsupportedOperationException"},
	} {
		err := CheckReplicaRegion("arn", tc.primary, tc.replica)
		if (err == nil) != (tc.want == "") || (err != nil && err.Type != tc.want) {
			t.Errorf("%s → %s: %v, want %q", tc.primary, tc.replica, err, tc.want)
		}
	}
}
