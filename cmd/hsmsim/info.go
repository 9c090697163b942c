package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name: "info", Usage: "show the cluster and token as a node reports them (no login needed)", Flags: clientFlags,
		Action: func(c *cli.Context) error {
			cl, ctx, done, err := connect(c, false)
			if err != nil {
				return err
			}
			defer done()
			i, err := cl.Info(ctx)
			if err != nil {
				return err
			}
			fmt.Printf("cluster:        %s\nlabel:          %s\nnode:           %s (%s)\nleader:         %s\ninitialized:    %v\napplied index:  %d\ntoken objects:  %d of %d\nusers:          %d\nactive logins:  %d\nfirmware:       %s\n",
				i.ClusterId, i.Label, i.NodeId, i.Az, i.LeaderId, i.Initialized, i.AppliedIndex, i.TokenObjects, i.MaxObjects, i.Users, i.ActiveLogins, i.Firmware)
			for _, m := range i.Members {
				fmt.Printf("member:         %s %s %s %s leader=%v applied=%d\n", m.Id, m.Az, m.Addr, m.State, m.Leader, m.AppliedIndex)
			}
			return nil
		},
	}
}
