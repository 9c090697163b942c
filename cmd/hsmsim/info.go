package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// infoAction shows what a node reports of itself and its cluster (GetInfo, no login needed).
func infoAction(show func(*hsmpb.InfoResponse) error) cli.ActionFunc {
	return clientAction(false, nil, func(ctx context.Context, _ *cli.Context, cl *client.Client) error {
		i, err := cl.Info(ctx)
		if err != nil {
			return err
		}
		return show(i)
	})
}

func infoCommand() *cli.Command {
	return &cli.Command{
		Name: "info", Usage: "show the cluster and token as a node reports them (no login needed)", Flags: clientFlags,
		Action: infoAction(func(i *hsmpb.InfoResponse) error {
			fmt.Printf("cluster:        %s\nlabel:          %s\nnode:           %s (%s)\nleader:         %s\ninitialized:    %v\napplied index:  %d\ntoken objects:  %d of %d\nusers:          %d\nactive logins:  %d\nfirmware:       %s\n",
				i.ClusterId, i.Label, i.NodeId, i.Az, i.LeaderId, i.Initialized, i.AppliedIndex, i.TokenObjects, i.MaxObjects, i.Users, i.ActiveLogins, i.Firmware)
			for _, m := range i.Members {
				fmt.Printf("member:         %s %s %s %s leader=%v applied=%d\n", m.Id, m.Az, m.Addr, m.State, m.Leader, m.AppliedIndex)
			}
			return nil
		}),
	}
}

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "inspect the cluster",
		Subcommands: []*cli.Command{{
			Name: "status", Usage: "nodes, AZs, leader, applied indexes and health", Flags: clientFlags,
			Action: infoAction(func(i *hsmpb.InfoResponse) error {
				fmt.Printf("cluster %s (asked %s; leader %s)\n\n", i.ClusterId, i.NodeId, i.LeaderId)
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "HSM\tAZ\tADDRESS\tSTATE\tLEADER\tAPPLIED")
				for _, m := range i.Members {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%d\n", m.Id, m.Az, m.Addr, m.State, m.Leader, m.AppliedIndex)
				}
				return w.Flush()
			}),
		}},
	}
}
