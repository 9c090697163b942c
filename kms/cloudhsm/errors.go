package cloudhsm

// Exception names of the CloudHSM V2 model (`__type`): what the control plane answers. Each
// becomes an *awsapi.Error with awsapi.NewError, which gives the faults their 500.
const (
	errInternalFailure       = "CloudHsmInternalFailureException"
	errInvalidRequest        = "CloudHsmInvalidRequestException"
	errResourceNotFound      = "CloudHsmResourceNotFoundException"
	errTag                   = "CloudHsmTagException"
	errResourceLimitExceeded = "CloudHsmResourceLimitExceededException"
)
