// Command hsmsim is the one CLI of hsmsim: it runs HSM nodes and the embedded cluster, and
// manages users and keys through the same client API the PKCS#11 module uses.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	if err := app().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "hsmsim:", err)
		os.Exit(1)
	}
}

func app() *cli.App {
	return &cli.App{
		Name:  "hsmsim",
		Usage: "an emulator of an AWS-CloudHSM-style HSM cluster and of a KMS that keeps keys in it",
		Description: `Start a node with "hsmsim hsmd --init", then manage it with "hsmsim user" and
"hsmsim key". Client commands find the cluster through the client config file
($HSMSIM_CONFIG, or --config) and log in with a PIN "user:password" ($HSMSIM_PIN, or --pin),
as CloudHSM's PKCS#11 library does.`,
		Commands: []*cli.Command{upCommand(), envCommand(), kmsCommand(), hsmdCommand(), infoCommand(), clusterCommand(), userCommand(), keyCommand(), scenarioCommand()},
	}
}
