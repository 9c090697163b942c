package main

import (
	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/faultcmd"
)

// faultCommand is "hsmsim fault" (internal/faultcmd): live faults on a running hsmsim up.
func faultCommand() *cli.Command { return faultcmd.Command(dataDirFlag) }
