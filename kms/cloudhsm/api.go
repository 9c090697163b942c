package cloudhsm

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// ControlPlane is the CloudHSM V2 API (BaldrApiService): the endpoint decodes and validates each
// request against the model, hands it over typed (NewAPI), and encodes the answer. Return an
// *awsapi.Error to choose the exception; any other error becomes CloudHsmInternalFailureException.
// Service implements it; embed NotImplemented to offer a subset (tests).
type ControlPlane interface {
	CreateCluster(ctx context.Context, r *awsapi.Caller, in *CreateClusterInput) (*ClusterOutput, error)
	DescribeClusters(ctx context.Context, r *awsapi.Caller, in *DescribeClustersInput) (*DescribeClustersOutput, error)
	InitializeCluster(ctx context.Context, r *awsapi.Caller, in *InitializeClusterInput) (*InitializeClusterOutput, error)
	ModifyCluster(ctx context.Context, r *awsapi.Caller, in *ModifyClusterInput) (*ClusterOutput, error)
	DeleteCluster(ctx context.Context, r *awsapi.Caller, in *ClusterIDInput) (*ClusterOutput, error)
	CreateHsm(ctx context.Context, r *awsapi.Caller, in *CreateHsmInput) (*CreateHsmOutput, error)
	DeleteHsm(ctx context.Context, r *awsapi.Caller, in *DeleteHsmInput) (*DeleteHsmOutput, error)
	DescribeBackups(ctx context.Context, r *awsapi.Caller, in *DescribeBackupsInput) (*DescribeBackupsOutput, error)
	RestoreBackup(ctx context.Context, r *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error)
	DeleteBackup(ctx context.Context, r *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error)
	ModifyBackupAttributes(ctx context.Context, r *awsapi.Caller, in *ModifyBackupAttributesInput) (*BackupOutput, error)
	CopyBackupToRegion(ctx context.Context, r *awsapi.Caller, in *CopyBackupToRegionInput) (*CopyBackupToRegionOutput, error)
	GetResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error)
	PutResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error)
	DeleteResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error)
	TagResource(ctx context.Context, r *awsapi.Caller, in *TagResourceInput) error
	UntagResource(ctx context.Context, r *awsapi.Caller, in *UntagResourceInput) error
	ListTags(ctx context.Context, r *awsapi.Caller, in *ListTagsInput) (*ListTagsOutput, error)
}

// NotImplemented answers every CloudHSM call as an endpoint that does not offer it.
type NotImplemented struct{}

var _ ControlPlane = NotImplemented{}

// notImplemented is the answer to an operation of the model that hsmsim's control plane lacks.
func notImplemented(op string) *awsapi.Error {
	return awsapi.NewError(awsapi.UnknownOperationException, "hsmsim's CloudHSM control plane does not offer %s", op)
}

func (NotImplemented) CreateCluster(context.Context, *awsapi.Caller, *CreateClusterInput) (*ClusterOutput, error) {
	return nil, notImplemented("CreateCluster")
}
func (NotImplemented) DescribeClusters(context.Context, *awsapi.Caller, *DescribeClustersInput) (*DescribeClustersOutput, error) {
	return nil, notImplemented("DescribeClusters")
}
func (NotImplemented) InitializeCluster(context.Context, *awsapi.Caller, *InitializeClusterInput) (*InitializeClusterOutput, error) {
	return nil, notImplemented("InitializeCluster")
}
func (NotImplemented) ModifyCluster(context.Context, *awsapi.Caller, *ModifyClusterInput) (*ClusterOutput, error) {
	return nil, notImplemented("ModifyCluster")
}
func (NotImplemented) DeleteCluster(context.Context, *awsapi.Caller, *ClusterIDInput) (*ClusterOutput, error) {
	return nil, notImplemented("DeleteCluster")
}
func (NotImplemented) CreateHsm(context.Context, *awsapi.Caller, *CreateHsmInput) (*CreateHsmOutput, error) {
	return nil, notImplemented("CreateHsm")
}
func (NotImplemented) DeleteHsm(context.Context, *awsapi.Caller, *DeleteHsmInput) (*DeleteHsmOutput, error) {
	return nil, notImplemented("DeleteHsm")
}
func (NotImplemented) DescribeBackups(context.Context, *awsapi.Caller, *DescribeBackupsInput) (*DescribeBackupsOutput, error) {
	return nil, notImplemented("DescribeBackups")
}
func (NotImplemented) RestoreBackup(context.Context, *awsapi.Caller, *BackupIDInput) (*BackupOutput, error) {
	return nil, notImplemented("RestoreBackup")
}
func (NotImplemented) DeleteBackup(context.Context, *awsapi.Caller, *BackupIDInput) (*BackupOutput, error) {
	return nil, notImplemented("DeleteBackup")
}
func (NotImplemented) ModifyBackupAttributes(context.Context, *awsapi.Caller, *ModifyBackupAttributesInput) (*BackupOutput, error) {
	return nil, notImplemented("ModifyBackupAttributes")
}
func (NotImplemented) CopyBackupToRegion(context.Context, *awsapi.Caller, *CopyBackupToRegionInput) (*CopyBackupToRegionOutput, error) {
	return nil, notImplemented("CopyBackupToRegion")
}
func (NotImplemented) GetResourcePolicy(context.Context, *awsapi.Caller, *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	return nil, notImplemented("GetResourcePolicy")
}
func (NotImplemented) PutResourcePolicy(context.Context, *awsapi.Caller, *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	return nil, notImplemented("PutResourcePolicy")
}
func (NotImplemented) DeleteResourcePolicy(context.Context, *awsapi.Caller, *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	return nil, notImplemented("DeleteResourcePolicy")
}
func (NotImplemented) TagResource(context.Context, *awsapi.Caller, *TagResourceInput) error {
	return notImplemented("TagResource")
}
func (NotImplemented) UntagResource(context.Context, *awsapi.Caller, *UntagResourceInput) error {
	return notImplemented("UntagResource")
}
func (NotImplemented) ListTags(context.Context, *awsapi.Caller, *ListTagsInput) (*ListTagsOutput, error) {
	return nil, notImplemented("ListTags")
}

// NewAPI is BaldrApiService served by cp, for an awsapi.Endpoint. An operation of the model that
// cp does not offer is UnknownOperationException.
func NewAPI(cp ControlPlane) *awsapi.Service {
	hs := make(map[string]awsapi.Handler, len(handlers))
	for name, h := range handlers {
		hs[name] = func(ctx context.Context, c *awsapi.Caller, body []byte) (any, error) { return h(cp, ctx, c, body) }
	}
	return &awsapi.Service{API: awsapi.CloudHSMV2, Handlers: hs, Unhandled: notImplemented}
}

// handler runs one operation of cp on a validated body.
type handler func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, body []byte) (any, error)

// empty is the answer of an operation without output members.
type empty struct{}

// op adapts a ControlPlane method to a handler; a plain Go error from the control plane is
// CloudHsmInternalFailureException, not the endpoint's internal error.
func op[In, Out any](f func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *In) (*Out, error)) handler {
	return func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, body []byte) (any, error) {
		var in In
		if err := awsapi.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		out, err := f(cp, ctx, c, &in)
		if err != nil {
			if _, ok := err.(*awsapi.Error); !ok {
				return nil, awsapi.NewError(errInternalFailure, "%v", err)
			}
			return nil, err
		}
		if out == nil {
			return empty{}, nil
		}
		return out, nil
	}
}

var handlers = map[string]handler{
	"CreateCluster": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *CreateClusterInput) (*ClusterOutput, error) {
		return cp.CreateCluster(ctx, c, in)
	}),
	"DescribeClusters": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *DescribeClustersInput) (*DescribeClustersOutput, error) {
		return cp.DescribeClusters(ctx, c, in)
	}),
	"InitializeCluster": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *InitializeClusterInput) (*InitializeClusterOutput, error) {
		return cp.InitializeCluster(ctx, c, in)
	}),
	"ModifyCluster": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ModifyClusterInput) (*ClusterOutput, error) {
		return cp.ModifyCluster(ctx, c, in)
	}),
	"DeleteCluster": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ClusterIDInput) (*ClusterOutput, error) {
		return cp.DeleteCluster(ctx, c, in)
	}),
	"CreateHsm": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *CreateHsmInput) (*CreateHsmOutput, error) {
		return cp.CreateHsm(ctx, c, in)
	}),
	"DeleteHsm": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *DeleteHsmInput) (*DeleteHsmOutput, error) {
		return cp.DeleteHsm(ctx, c, in)
	}),
	"DescribeBackups": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *DescribeBackupsInput) (*DescribeBackupsOutput, error) {
		return cp.DescribeBackups(ctx, c, in)
	}),
	"RestoreBackup": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error) {
		return cp.RestoreBackup(ctx, c, in)
	}),
	"DeleteBackup": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error) {
		return cp.DeleteBackup(ctx, c, in)
	}),
	"ModifyBackupAttributes": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ModifyBackupAttributesInput) (*BackupOutput, error) {
		return cp.ModifyBackupAttributes(ctx, c, in)
	}),
	"CopyBackupToRegion": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *CopyBackupToRegionInput) (*CopyBackupToRegionOutput, error) {
		return cp.CopyBackupToRegion(ctx, c, in)
	}),
	"GetResourcePolicy": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
		return cp.GetResourcePolicy(ctx, c, in)
	}),
	"PutResourcePolicy": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
		return cp.PutResourcePolicy(ctx, c, in)
	}),
	"DeleteResourcePolicy": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
		return cp.DeleteResourcePolicy(ctx, c, in)
	}),
	"TagResource": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *TagResourceInput) (*empty, error) {
		return nil, cp.TagResource(ctx, c, in)
	}),
	"UntagResource": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *UntagResourceInput) (*empty, error) {
		return nil, cp.UntagResource(ctx, c, in)
	}),
	"ListTags": op(func(cp ControlPlane, ctx context.Context, c *awsapi.Caller, in *ListTagsInput) (*ListTagsOutput, error) {
		return cp.ListTags(ctx, c, in)
	}),
}
