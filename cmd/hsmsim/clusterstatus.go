package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

func clusterCommand() *cli.Command {
	return &cli.Command{
		Name:  "cluster",
		Usage: "inspect the cluster",
		Subcommands: []*cli.Command{{
			Name: "status", Usage: "nodes, AZs, leader, applied indexes and health", Flags: clientFlags,
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
				fmt.Printf("cluster %s (asked %s; leader %s)\n\n", i.ClusterId, i.NodeId, i.LeaderId)
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "HSM\tAZ\tADDRESS\tSTATE\tLEADER\tAPPLIED")
				for _, m := range i.Members {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%d\n", m.Id, m.Az, m.Addr, m.State, m.Leader, m.AppliedIndex)
				}
				return w.Flush()
			},
		}},
	}
}
