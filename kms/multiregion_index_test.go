package kms

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/record"
)

// scanRelated is related the slow way: every key of the server.
func scanRelated(s *Server, k *keyRec) []string {
	var out []string
	for _, o := range s.keys {
		if k.MultiRegion && o.MultiRegion && o.ID == k.ID && o.Account == k.Account && o.Region != k.Region {
			out = append(out, o.Ref())
		}
	}
	slices.Sort(out)
	return out
}

// indexAgrees checks, for every key, that the index of multi-Region sets finds the keys a scan
// of every key finds.
func indexAgrees(t *testing.T, e *testEnv, when string) {
	t.Helper()
	s := e.srv
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		var got []string
		for _, o := range s.related(k) {
			got = append(got, o.Ref())
		}
		slices.Sort(got)
		if want := scanRelated(s, k); !slices.Equal(got, want) {
			t.Errorf("%s: related(%s) = %v, a scan finds %v", when, k.Ref(), got, want)
		}
		if k.MultiRegion && !slices.Contains(s.sets.Regions(k.Account, k.ID), k.Region) {
			t.Errorf("%s: the index misses %s", when, k.Ref())
		}
	}
}

// TestMultiRegionIndexAgreesWithAScan: after create, replicate, deleting a replica and a
// restart, the index finds exactly the other keys of each set.
func TestMultiRegionIndexAgreesWithAScan(t *testing.T) {
	e, east, west, id := replicatedKey(t)
	_, err := east.CreateKey(ctx(), &awskms.CreateKeyInput{}) // a single-Region key beside them
	check(t, err)
	other := aws.ToString(newMRK(t, west, nil).KeyId) // a set whose primary is in us-west-2
	replicate(t, west, other, "eu-west-1")
	replicate(t, east, id, "eu-west-1")
	indexAgrees(t, e, "after create and replicate")

	_, err = west.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	check(t, err)
	e.clock.Advance(8 * 24 * time.Hour)
	e.srv.sweep(ctx())
	e.srv.mu.RLock()
	gone := e.srv.keyAt(awsapi.DefaultAccountID, "us-west-2", id) == nil
	regions := e.srv.sets.Regions(awsapi.DefaultAccountID, id)
	e.srv.mu.RUnlock()
	if !gone || slices.Contains(regions, "us-west-2") {
		t.Fatalf("after deleting the us-west-2 replica: deleted %v, the index has %v", gone, regions)
	}
	indexAgrees(t, e, "after a replica's deletion")

	e.restart()
	indexAgrees(t, e, "after a restart")
	if got := regionsOf(describe(t, regionClient(e, "us-east-1"), id).MultiRegionConfiguration.ReplicaKeys); !slices.Equal(got, []string{"eu-west-1"}) {
		t.Fatalf("replicas after a restart: %v", got)
	}
}

// BenchmarkDescribeKeyMultiRegion: DescribeKey of a multi-Region key with 1,000 and 10,000
// other keys in the server costs the same, because its set's other keys come from the index, not
// a scan. The keys are records put in place, and DescribeKey runs without HTTP.
func BenchmarkDescribeKeyMultiRegion(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("others=%d", n), func(b *testing.B) {
			e := newEnv(b, Config{})
			s := e.srv
			c := s.newCaller(&awsapi.Caller{Account: awsapi.DefaultAccountID, Region: "us-east-1"}, "kms:DescribeKey")
			out, err := createKey(s, ctx(), c, &createKeyInput{MultiRegion: true})
			if err != nil {
				b.Fatal(err)
			}
			id := out.KeyMetadata.KeyId
			s.mu.Lock()
			p := s.keyAt(awsapi.DefaultAccountID, "us-east-1", id)
			r := p.Clone()
			r.Region = "us-west-2"
			check(b, s.saveKey(r))
			for i := range n {
				k := p.Clone()
				k.ID, k.MultiRegion, k.PrimaryRegion = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), false, ""
				s.keys[record.Ref(k.Account, k.Region, k.ID)] = k
			}
			s.mu.Unlock()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := describeKey(s, ctx(), c, &keyIDInput{KeyId: id}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
