package clientcmd

import (
	"bytes"
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
		Usage: "inspect the cluster; set mutual TLS with its clients",
		Subcommands: []*cli.Command{mtlsCommand(), {
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

// mtlsCommand is CloudHSM's "cluster mtls": trust anchors for client certificates, and whether
// every client must show one. Admin calls take --pin admin:PASSWORD; listing needs no login.
func mtlsCommand() *cli.Command {
	anchor := func(call func(*client.Client, context.Context, []byte) error) cli.ActionFunc {
		return clientAction(true, nargs(1, "cluster mtls register-trust-anchor|deregister-trust-anchor CERT.pem"),
			func(ctx context.Context, c *cli.Context, cl *client.Client) error {
				pem, err := os.ReadFile(c.Args().First())
				if err != nil {
					return err
				}
				return call(cl, ctx, pem)
			})
	}
	return &cli.Command{Name: "mtls", Usage: "mutual TLS between clients and the cluster", Subcommands: []*cli.Command{
		{Name: "register-trust-anchor", Usage: "accept client certificates issued by this CA (at most two)", ArgsUsage: "CERT.pem", Flags: clientFlags, Action: anchor((*client.Client).RegisterTrustAnchor)},
		{Name: "deregister-trust-anchor", Usage: "stop accepting this CA", ArgsUsage: "CERT.pem", Flags: clientFlags, Action: anchor((*client.Client).DeregisterTrustAnchor)},
		{Name: "list-trust-anchors", Usage: "the registered CAs and the enforcement level (no login needed)", Flags: clientFlags, Action: clientAction(false, nil, func(ctx context.Context, _ *cli.Context, cl *client.Client) error {
			anchors, enforced, err := cl.ListTrustAnchors(ctx)
			fmt.Printf("enforcement: %v\n%s", map[bool]string{true: "cluster", false: "none"}[enforced], bytes.Join(anchors, nil))
			return err
		})},
		{Name: "set-enforcement", Usage: "--level cluster (every client needs a certificate) or none", Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "level", Required: true}}, clientFlags...),
			Action: clientAction(true, nil, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
				if l := c.String("level"); l != "cluster" && l != "none" {
					return fmt.Errorf("--level %q: want cluster or none", l)
				}
				return cl.SetMTLSEnforcement(ctx, c.String("level") == "cluster")
			})},
	}}
}
