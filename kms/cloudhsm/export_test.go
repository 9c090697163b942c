package cloudhsm

// SetProvisionFault makes each attempt of a provisioning step first ask f, and fail with its
// error if it returns one (nil f: no faults). Tests only.
func SetProvisionFault(f func(step string) error) { provisionFault = f }
