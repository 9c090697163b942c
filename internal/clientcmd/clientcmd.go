// Package clientcmd holds the hsmsim commands that talk to a cluster as its client, through
// the same client API the PKCS#11 module uses: info, cluster (status, mTLS), user and key. Each
// finds the cluster through the client config (--config, $HSMSIM_CONFIG) and logs in with a PIN
// "user:password" (--pin, $HSMSIM_PIN), as CloudHSM's tools do.
package clientcmd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// Commands are the client commands, for the CLI's command list.
func Commands() []*cli.Command {
	return []*cli.Command{infoCommand(), clusterCommand(), userCommand(), keyCommand()}
}

// clientFlags are the flags of every command that talks to a cluster.
var clientFlags = []cli.Flag{
	&cli.StringFlag{Name: "config", Usage: "client config file (written by hsmsim up / hsmd --init)", EnvVars: []string{client.EnvConfig}},
	&cli.StringFlag{Name: "pin", Usage: `login as "user:password"`, EnvVars: []string{"HSMSIM_PIN"}},
	&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "bound on the whole command"},
}

// clientAction is an action that checks its arguments (check, when set), dials the cluster of
// --config, logs in with --pin when login is set, and runs fn within --timeout: arguments are
// refused before any connection or login.
func clientAction(login bool, check func(*cli.Context) error, fn func(ctx context.Context, c *cli.Context, cl *client.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if check != nil {
			if err := check(c); err != nil {
				return err
			}
		}
		path := c.String("config")
		if path == "" {
			path = client.ConfigPath(os.Getenv, client.EnvConfig)
		}
		cfg, err := client.LoadConfig(path)
		if err != nil {
			return err
		}
		cl, err := client.DialConfig(cfg)
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
		defer cancel()
		if login {
			user, pw, ok := strings.Cut(c.String("pin"), ":")
			if !ok || user == "" {
				return fmt.Errorf(`a PIN "user:password" is needed (--pin or HSMSIM_PIN)`)
			}
			if _, err := cl.Login(ctx, user, pw); err != nil {
				return fmt.Errorf("login as %s: %w", user, err)
			}
			defer func() { _ = cl.Logout(ctx) }()
		}
		return fn(ctx, c, cl)
	}
}

// nargs is a check that the command has n arguments, as usage says.
func nargs(n int, usage string) func(*cli.Context) error {
	return func(c *cli.Context) error {
		if c.NArg() != n {
			return fmt.Errorf("usage: hsmsim %s", usage)
		}
		return nil
	}
}
