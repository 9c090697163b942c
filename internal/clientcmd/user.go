package clientcmd

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
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
				Action: clientAction(true, nil, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
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
				}),
			},
			{
				Name: "create", Usage: "create a user (admin only)", ArgsUsage: "NAME PASSWORD",
				Flags: append([]cli.Flag{&cli.StringFlag{Name: "role", Value: "crypto-user", Usage: "crypto-user or admin"}}, clientFlags...),
				Action: clientAction(true, func(c *cli.Context) error {
					if err := nargs(2, "user create NAME PASSWORD")(c); err != nil {
						return err
					}
					_, err := roleFlag(c)
					return err
				}, func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					role, _ := roleFlag(c)
					return cl.CreateUser(ctx, c.Args().Get(0), role, c.Args().Get(1))
				}),
			},
			{
				Name: "delete", Usage: "delete a user that owns no keys (admin only)", ArgsUsage: "NAME",
				Flags: clientFlags,
				Action: clientAction(true, nargs(1, "user delete NAME"), func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					return cl.DeleteUser(ctx, c.Args().Get(0))
				}),
			},
			{
				Name: "change-password", Usage: "change your own password, or (admin) reset another user's", ArgsUsage: "NEW-PASSWORD",
				Flags: append([]cli.Flag{&cli.StringFlag{Name: "user", Usage: "whose password (default: your own)"}}, clientFlags...),
				Action: clientAction(true, nargs(1, "user change-password [--user NAME] NEW-PASSWORD"), func(ctx context.Context, c *cli.Context, cl *client.Client) error {
					return cl.ChangePassword(ctx, c.String("user"), c.Args().Get(0))
				}),
			},
		},
	}
}

// roleFlag is the role --role names.
func roleFlag(c *cli.Context) (hsmpb.Role, error) {
	switch c.String("role") {
	case "crypto-user", "cu":
		return hsmpb.Role_ROLE_CRYPTO_USER, nil
	case "admin", "co":
		return hsmpb.Role_ROLE_ADMIN, nil
	}
	return 0, fmt.Errorf("--role: want crypto-user or admin")
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
