package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

func userCommand() *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage HSM users (admins manage, crypto users own and use keys)",
		Description: `A new cluster has one unactivated admin, "admin" with password "password"; it must
change its password before anything else ("hsmsim user change-password --pin admin:password NEW").
Admins create crypto users (CUs), who own and use keys. Five wrong passwords lock a user
until an admin sets a new password for it.`,
		Subcommands: []*cli.Command{
			{
				Name: "list", Usage: "list users with role, lock state, active logins and owned keys",
				Flags: clientFlags,
				Action: func(c *cli.Context) error {
					cl, ctx, done, err := connect(c, true)
					if err != nil {
						return err
					}
					defer done()
					users, err := cl.ListUsers(ctx)
					if err != nil {
						return err
					}
					w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(w, "USER\tROLE\tLOCKED\tFAILED LOGINS\tACTIVE LOGINS\tKEYS")
					for _, u := range users {
						fmt.Fprintf(w, "%s\t%s\t%v\t%d\t%d\t%d\n", u.User, roleName(u.Role), u.Locked, u.FailedLogins, u.ActiveLogins, u.OwnedKeys)
					}
					return w.Flush()
				},
			},
			{
				Name: "create", Usage: "create a user (admin only)", ArgsUsage: "NAME PASSWORD",
				Flags: append([]cli.Flag{&cli.StringFlag{Name: "role", Value: "crypto-user", Usage: "crypto-user or admin"}}, clientFlags...),
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("usage: hsmsim user create NAME PASSWORD")
					}
					role := hsmpb.Role_ROLE_CRYPTO_USER
					switch c.String("role") {
					case "crypto-user", "cu":
					case "admin", "co":
						role = hsmpb.Role_ROLE_ADMIN
					default:
						return fmt.Errorf("--role: want crypto-user or admin")
					}
					cl, ctx, done, err := connect(c, true)
					if err != nil {
						return err
					}
					defer done()
					return cl.CreateUser(ctx, c.Args().Get(0), role, c.Args().Get(1))
				},
			},
			{
				Name: "delete", Usage: "delete a user that owns no keys (admin only)", ArgsUsage: "NAME",
				Flags: clientFlags,
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("usage: hsmsim user delete NAME")
					}
					cl, ctx, done, err := connect(c, true)
					if err != nil {
						return err
					}
					defer done()
					return cl.DeleteUser(ctx, c.Args().Get(0))
				},
			},
			{
				Name: "change-password", Usage: "change your own password, or (admin) reset another user's", ArgsUsage: "NEW-PASSWORD",
				Flags: append([]cli.Flag{&cli.StringFlag{Name: "user", Usage: "whose password (default: your own)"}}, clientFlags...),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("usage: hsmsim user change-password [--user NAME] NEW-PASSWORD")
					}
					cl, ctx, done, err := connect(c, true)
					if err != nil {
						return err
					}
					defer done()
					return cl.ChangePassword(ctx, c.String("user"), c.Args().Get(0))
				},
			},
		},
	}
}

func roleName(r hsmpb.Role) string {
	switch r {
	case hsmpb.Role_ROLE_ADMIN:
		return "admin"
	case hsmpb.Role_ROLE_CRYPTO_USER:
		return "crypto-user"
	case hsmpb.Role_ROLE_UNACTIVATED_ADMIN:
		return "unactivated-admin"
	}
	return r.String()
}
