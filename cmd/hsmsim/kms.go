package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/capacityflag"
	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/metrics"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

func kmsCommand() *cli.Command {
	return &cli.Command{
		Name:  "kms",
		Usage: "run the KMS and the CloudHSM service alone: clusters are made through the CloudHSM API",
		Description: `Serves the KMS (TrentService) and CloudHSM V2 (BaldrApiService) over the AWS JSON 1.1
protocol on --listen, with no cluster made in advance: create one as on AWS (aws cloudhsmv2
create-cluster, create-hsm, initialize-cluster), then a custom key store on it. The HSMs run
in this process; everything is kept in --data-dir (cloudhsm/ and kms/) and resumes on restart.
Subnets: "aws cloudhsmv2 create-cluster" accepts any subnet id; hsmsim places them in the
region's AZs a, b, c, ... in order.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: ".data-kms", EnvVars: []string{"HSMSIM_KMS_DATA"}, Usage: "where the service keeps its state"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:4566", Usage: "address of the endpoint"},
			&cli.StringFlag{Name: "region", Value: awsapi.DefaultRegion, Usage: "region of unsigned requests"},
			&cli.StringFlag{Name: "account-id", Value: awsapi.DefaultAccountID, Usage: "the account of every caller"},
			&cli.BoolFlag{Name: "strict", Usage: "verify SigV4 signatures against --access-key-id/--secret-access-key"},
			&cli.StringFlag{Name: "access-key-id", EnvVars: []string{"AWS_ACCESS_KEY_ID"}, Usage: "the access key strict mode accepts"},
			&cli.StringFlag{Name: "secret-access-key", EnvVars: []string{"AWS_SECRET_ACCESS_KEY"}, Usage: "its secret"},
			&cli.IntFlag{Name: "base-port", Usage: "fixed HSM ports from here (Raft 100 above); 0: any free port"},
			capacityflag.Profile, logLevelFlag("warn"),
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			var creds []awsapi.Credential
			if ak := c.String("access-key-id"); ak != "" {
				creds = append(creds, awsapi.Credential{AccessKeyID: ak, SecretAccessKey: c.String("secret-access-key")})
			}
			if c.Bool("strict") && len(creds) == 0 {
				return fmt.Errorf("--strict needs --access-key-id and --secret-access-key")
			}
			profile, err := capacityflag.Get(c)
			if err != nil {
				return err
			}
			svc, err := embedded.Serve(embedded.ServiceOptions{DataDir: c.String("data-dir"), Region: c.String("region"), AccountID: c.String("account-id"),
				BasePort: c.Int("base-port"), Listen: c.String("listen"), Credentials: creds, Strict: c.Bool("strict"), Logger: log, Capacity: profile})
			if err != nil {
				return err
			}
			defer svc.Close()
			url, dir := svc.State.KMSURL, svc.Dir
			fmt.Printf("hsmsim kms: KMS, CloudHSM V2, IAM and STS on %s (region %s), data in %s\n\n", url, c.String("region"), dir)
			fmt.Printf("  export AWS_ENDPOINT_URL_KMS=%s AWS_ENDPOINT_URL_CLOUDHSM_V2=%s AWS_ENDPOINT_URL_IAM=%s AWS_ENDPOINT_URL_STS=%s AWS_REGION=%s\n",
				url, url, url, url, c.String("region"))
			fmt.Printf("  metrics: %s%s   KMS audit trail: hsmsim audit kms --data-dir %s\n", url, metrics.Path, dir)
			fmt.Printf("  aws cloudhsmv2 create-cluster --hsm-type hsm2m.medium --subnet-ids %s %s\n\n",
				cloudhsm.SubnetID(c.String("region")+"a"), cloudhsm.SubnetID(c.String("region")+"b"))
			ctx, stop := interruptible(c)
			defer stop()
			return untilDone(ctx)
		},
	}
}
