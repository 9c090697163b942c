package kms

import (
	"context"
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Tags of KMS keys: TagResource, UntagResource, ListResourceTags.

func checkTags(tags []tag) *awsapi.Error {
	for _, t := range tags {
		if strings.HasPrefix(t.TagKey, "aws:") {
			return awsapi.NewError(errTag, "Tag keys beginning with 'aws:' are reserved for AWS use.")
		}
	}
	return nil
}

// dedupTags applies tags to have: a new value for a present key replaces the old one.
func dedupTags(have, add []tag) []tag {
	return awsapi.MergeTags(have, add, func(t tag) string { return t.TagKey })
}

// maxTags is the per-key tag quota.
const maxTags = 50

type tagResourceInput struct {
	KeyId string
	Tags  []tag
}

func tagResource(s *Server, _ context.Context, c *caller, in *tagResourceInput) (*empty, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Tags = dedupTags(k.Tags, in.Tags)
		if len(k.Tags) > maxTags {
			return awsapi.NewError(errLimitExceeded, "A KMS key can have at most %d tags.", maxTags)
		}
		return nil
	})
	return nil, err
}

type untagResourceInput struct {
	KeyId   string
	TagKeys []string
}

func untagResource(s *Server, _ context.Context, c *caller, in *untagResourceInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		var keep []tag
		for _, t := range k.Tags {
			drop := false
			for _, d := range in.TagKeys {
				drop = drop || d == t.TagKey
			}
			if !drop {
				keep = append(keep, t)
			}
		}
		k.Tags = keep
		return nil
	})
	return nil, err
}

type listTagsInput struct {
	KeyId  string
	Limit  *int
	Marker *string
}

type listTagsOutput struct {
	Tags       []tag
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func listResourceTags(s *Server, _ context.Context, c *caller, in *listTagsInput) (*listTagsOutput, error) {
	tags, rerr := viewKey(s, c, in.KeyId, func(k *keyRec) ([]tag, error) { return slices.Clone(k.Tags), nil })
	if rerr != nil {
		return nil, rerr
	}
	items, next, trunc, err := page(tags, func(t tag) string { return t.TagKey }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listTagsOutput{Tags: append([]tag{}, items...), NextMarker: next, Truncated: trunc}, nil
}
