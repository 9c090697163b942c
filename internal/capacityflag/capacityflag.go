// Package capacityflag is the command line's side of the capacity profile (hsmd/capacity,
// kms/quota): the --capacity and --hsm-type flags that hsmsim up, hsmsim kms and hsmsim hsmd
// share, read and checked in one place.
package capacityflag

import (
	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/capacity"
)

// Profile is --capacity.
var Profile = &cli.StringFlag{Name: "capacity", EnvVars: []string{"HSMSIM_CAPACITY"},
	Usage: `"cloudhsm": as fast as AWS CloudHSM and KMS and no faster (each HSM at its type's published rates, the KMS at AWS's request quotas); empty: no limits`}

// HSMType is --hsm-type: the type whose rates an HSM is held to.
var HSMType = &cli.StringFlag{Name: "hsm-type", Value: capacity.HSM2mMedium, Usage: "the HSM type, hsm2m.medium or hsm1.medium (hsmsim up: a new cluster's), whose published rates --capacity applies"}

// Get is --capacity, checked.
func Get(c *cli.Context) (string, error) {
	p := c.String(Profile.Name)
	return p, capacity.CheckProfile(p)
}

// Limiter is the limiter one HSM of --hsm-type gets under --capacity; nil without a profile.
func Limiter(c *cli.Context) (*capacity.Limiter, error) {
	p, err := Get(c)
	if err != nil || p == capacity.ProfileNone {
		return nil, err
	}
	return capacity.NewLimiter(c.String(HSMType.Name))
}
