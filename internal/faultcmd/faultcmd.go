// Package faultcmd is `hsmsim fault`: add, list and clear live faults on a running `hsmsim up`
// (or `hsmsim kms`) through its fault API (package internal/faultctl). The endpoint is
// --endpoint, else $AWS_ENDPOINT_URL_KMS (hsmsim env exports it), else the one the data
// directory's state names.
package faultcmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// Command is `hsmsim fault`; dataDir is the CLI's --data-dir flag.
func Command(dataDir cli.Flag) *cli.Command {
	where := []cli.Flag{dataDir,
		&cli.StringFlag{Name: "endpoint", EnvVars: []string{"AWS_ENDPOINT_URL_KMS"}, Usage: "the running stack's endpoint (default: the data directory's)"}}
	return &cli.Command{
		Name:  "fault",
		Usage: "add, list and clear live faults on a running hsmsim up (AWS API errors, latency, resets; HSM kills, partitions)",
		Description: `Faults at the AWS API match requests by --service, --operation, --key, --region, --caller
and --probability, and answer them with --error (an AWS error), --no-body (a 5xx without a
body), --reset (a TCP reset), --timeout (held until the client gives up, or --hold), or only
--latency (200ms, uniform:100ms,300ms, normal:200ms,50ms, exponential:200ms);
--fail-keystore leaves a custom key store FAILED (--code). HSM faults are scenario faults:
--do kill|pause|restart|wipe|partition|isolate-az|az-outage|one-way|link|cut-clients with
--node, --nodes, --az, --from, --to, --between (and --latency, --jitter, --loss for link).
--json takes either as the API's JSON. Every fault ends after --for (default 1m).
The API: ` + faultctl.Path + ` on the endpoint (README, "Breaking things on purpose").`,
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "put a fault in force; prints its id", Flags: append(where, addFlags...), Action: func(c *cli.Context) error {
				return withClient(c, func(cl *faultctl.Client) error { return add(c, cl) })
			}},
			{Name: "list", Usage: "list the faults in force", Flags: where, Action: func(c *cli.Context) error {
				return withClient(c, func(cl *faultctl.Client) error { return list(c.App.Writer, cl) })
			}},
			{Name: "clear", Usage: "end the faults named (ids), or every one", ArgsUsage: "[ID...]", Flags: where, Action: func(c *cli.Context) error {
				return withClient(c, func(cl *faultctl.Client) error { return clear(c, cl) })
			}},
		},
	}
}

var addFlags = []cli.Flag{
	&cli.StringFlag{Name: "json", Usage: "the fault as the API's JSON (a rule, or an HSM fault with \"do\")"},
	&cli.StringSliceFlag{Name: "service", Usage: "kms, cloudhsm, iam, sts (repeatable)"},
	&cli.StringSliceFlag{Name: "operation", Usage: "operation name, e.g. Encrypt (repeatable)"},
	&cli.StringSliceFlag{Name: "key", Usage: "key id, key ARN, alias or alias ARN, as the request writes it (repeatable)"},
	&cli.StringSliceFlag{Name: "region", Usage: "(repeatable)"},
	&cli.StringSliceFlag{Name: "caller", Usage: "access key id or principal ARN (repeatable)"},
	&cli.Float64Flag{Name: "probability", Value: 1, Usage: "share of matching requests"},
	&cli.Uint64Flag{Name: "seed", Usage: "seed of the rule's draws"},
	&cli.StringFlag{Name: "error", Usage: "answer this AWS error (ThrottlingException, KMSInternalException, ...)"},
	&cli.IntFlag{Name: "status", Usage: "HTTP status of --error or --no-body (default: AWS's for the error; 500)"},
	&cli.StringFlag{Name: "message", Usage: "message of --error"},
	&cli.BoolFlag{Name: "no-body", Usage: "answer a 5xx without a body"},
	&cli.BoolFlag{Name: "reset", Usage: "reset the connection"},
	&cli.BoolFlag{Name: "timeout", Usage: "hold the request until the client gives up, or --hold"},
	&cli.DurationFlag{Name: "hold", Usage: "cap of --timeout (default 1m)"},
	&cli.StringFlag{Name: "latency", Usage: "delay (a distribution for API faults; a duration for --do link)"},
	&cli.StringFlag{Name: "fail-keystore", Usage: "leave this custom key store FAILED"},
	&cli.StringFlag{Name: "code", Usage: "ConnectionErrorCode of --fail-keystore (default CLUSTER_NOT_FOUND)"},
	&cli.StringFlag{Name: "do", Usage: "an HSM fault: kill, pause, restart, wipe, partition, isolate-az, az-outage, one-way, link, cut-clients"},
	&cli.StringFlag{Name: "node", Usage: "node selector: n1, leader, follower, random, az:us-east-1a"},
	&cli.StringSliceFlag{Name: "nodes", Usage: "partition: one side (repeatable)"},
	&cli.StringFlag{Name: "az", Usage: "isolate-az, az-outage"},
	&cli.StringFlag{Name: "from", Usage: "one-way"},
	&cli.StringFlag{Name: "to", Usage: "one-way"},
	&cli.StringSliceFlag{Name: "between", Usage: "link: two AZs or two nodes (repeatable)"},
	&cli.DurationFlag{Name: "jitter", Usage: "link"},
	&cli.Float64Flag{Name: "loss", Usage: "link: share of packets lost"},
	&cli.DurationFlag{Name: "for", Value: fault.DefaultFor, Usage: "how long the fault stays"},
}

func withClient(c *cli.Context, f func(*faultctl.Client) error) error {
	url := c.String("endpoint")
	if url == "" {
		dir, err := filepath.Abs(c.String("data-dir"))
		if err != nil {
			return err
		}
		st, err := embedded.LoadState(dir)
		if err != nil || st.KMSURL == "" {
			return fmt.Errorf("no running stack in %s (start hsmsim up, or give --endpoint)", dir)
		}
		url = st.KMSURL
	}
	return f(&faultctl.Client{URL: url})
}

func add(c *cli.Context, cl *faultctl.Client) error {
	w := c.App.Writer
	if js := c.String("json"); js != "" {
		var probe struct{ Do string }
		if err := json.Unmarshal([]byte(js), &probe); err != nil {
			return fmt.Errorf("--json: %v", err)
		}
		if probe.Do != "" {
			var f faultctl.HSMFault
			if err := strict(js, &f); err != nil {
				return err
			}
			return addHSM(w, cl, f)
		}
		var r fault.Rule
		if err := strict(js, &r); err != nil {
			return err
		}
		return addRule(w, cl, r)
	}
	if c.String("do") != "" {
		f := faultctl.HSMFault{Do: c.String("do"), Node: c.String("node"), Nodes: c.StringSlice("nodes"), AZ: c.String("az"),
			From: c.String("from"), To: c.String("to"), Between: c.StringSlice("between"), Jitter: fault.Duration(c.Duration("jitter")),
			Loss: c.Float64("loss"), For: fault.Duration(c.Duration("for"))}
		if s := c.String("latency"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				return fmt.Errorf("--latency of a link is a duration: %v", err)
			}
			f.Latency = fault.Duration(d)
		}
		return addHSM(w, cl, f)
	}
	r := fault.Rule{Services: c.StringSlice("service"), Operations: c.StringSlice("operation"), Keys: c.StringSlice("key"),
		Regions: c.StringSlice("region"), Callers: c.StringSlice("caller"), Seed: c.Uint64("seed"),
		Error: c.String("error"), Status: c.Int("status"), Message: c.String("message"), Hold: fault.Duration(c.Duration("hold")),
		Store: c.String("fail-keystore"), Code: c.String("code"), For: fault.Duration(c.Duration("for"))}
	if c.IsSet("probability") {
		p := c.Float64("probability")
		r.Probability = &p
	}
	if s := c.String("latency"); s != "" {
		l, err := fault.ParseLatency(s)
		if err != nil {
			return err
		}
		r.Latency = l
	}
	var acts []string
	for _, a := range []struct {
		flag, action string
	}{{"no-body", fault.ActNoBody}, {"reset", fault.ActReset}, {"timeout", fault.ActTimeout}} {
		if c.Bool(a.flag) {
			acts = append(acts, a.action)
		}
	}
	if len(acts) > 1 || len(acts) == 1 && r.Error != "" {
		return errors.New("one of --error, --no-body, --reset, --timeout")
	}
	if len(acts) == 1 {
		r.Action = acts[0]
	}
	return addRule(w, cl, r)
}

// strict decodes --json refusing unknown fields, as the API does.
func strict(js string, v any) error {
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("--json: %v", err)
	}
	return nil
}

func addRule(w io.Writer, cl *faultctl.Client, r fault.Rule) error {
	in, err := cl.AddRule(r)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s  %s  until %s\n", in.ID, in.Describe(), in.Expires.Local().Format(time.TimeOnly))
	return nil
}

func addHSM(w io.Writer, cl *faultctl.Client, f faultctl.HSMFault) error {
	in, err := cl.AddHSM(f)
	if err != nil {
		return err
	}
	if in.Expires.IsZero() {
		fmt.Fprintf(w, "%s  %s done\n", in.ID, in.Do)
		return nil
	}
	fmt.Fprintf(w, "%s  %s %s  until %s\n", in.ID, in.Do, strings.Join(in.Acted, ","), in.Expires.Local().Format(time.TimeOnly))
	return nil
}

func list(w io.Writer, cl *faultctl.Client) error {
	l, err := cl.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFAULT\tHITS\tENDS IN")
	for _, r := range l.API {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", r.ID, r.Describe(), r.Hits, time.Until(r.Expires).Round(time.Second))
	}
	for _, f := range l.HSM {
		fmt.Fprintf(tw, "%s\t%s %s\t-\t%s\n", f.ID, f.Do, strings.Join(f.Acted, ","), time.Until(f.Expires).Round(time.Second))
	}
	return tw.Flush()
}

func clear(c *cli.Context, cl *faultctl.Client) error {
	if c.NArg() == 0 {
		n, err := cl.Clear()
		if err == nil {
			fmt.Fprintf(c.App.Writer, "cleared %d faults\n", n)
		}
		return err
	}
	for _, id := range c.Args().Slice() {
		if err := cl.Remove(id); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "cleared %s\n", id)
	}
	return nil
}
