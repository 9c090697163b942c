package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// clientFlags are the flags of every command that talks to a cluster.
var clientFlags = []cli.Flag{
	&cli.StringFlag{Name: "config", Usage: "client config file (written by hsmsim up / hsmd --init)", EnvVars: []string{client.EnvConfig}},
	&cli.StringFlag{Name: "pin", Usage: `login as "user:password"`, EnvVars: []string{"HSMSIM_PIN"}},
	&cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, Usage: "bound on the whole command"},
}

// connect dials the cluster of --config and, when login is set, logs in with --pin.
func connect(c *cli.Context, login bool) (*client.Client, context.Context, context.CancelFunc, error) {
	path := c.String("config")
	if path == "" {
		path = client.ConfigPath(os.Getenv, client.EnvConfig)
	}
	cfg, err := client.LoadConfig(path)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := client.DialConfig(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	if login {
		user, pw, ok := strings.Cut(c.String("pin"), ":")
		if !ok || user == "" {
			cancel()
			cl.Close()
			return nil, nil, nil, fmt.Errorf(`a PIN "user:password" is needed (--pin or HSMSIM_PIN)`)
		}
		if _, err := cl.Login(ctx, user, pw); err != nil {
			cancel()
			cl.Close()
			return nil, nil, nil, fmt.Errorf("login as %s: %w", user, err)
		}
	}
	return cl, ctx, func() {
		if login {
			_ = cl.Logout(ctx)
		}
		cancel()
		cl.Close()
	}, nil
}
