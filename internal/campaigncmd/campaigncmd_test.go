package campaigncmd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func runCLI(args ...string) (string, error) {
	var out bytes.Buffer
	app := &cli.App{Name: "hsmsim", Writer: &out, ErrWriter: &out, Commands: []*cli.Command{Command()}}
	err := app.Run(append([]string{"hsmsim", "campaign"}, args...))
	return out.String(), err
}

// TestRefusesWhatItCannotDraw: an unknown fault kind, face or profile is an error before any
// seed runs, naming what it takes.
func TestRefusesWhatItCannotDraw(t *testing.T) {
	for _, tc := range []struct{ args []string }{
		{[]string{"--faults", "kill,meteor"}},
		{[]string{"--faces", "hsm,s3"}},
		{[]string{"--profile", "medium"}},
	} {
		out, err := runCLI(append(tc.args, "--seeds", "1")...)
		if err == nil {
			t.Errorf("%v: no error (%s)", tc.args, out)
			continue
		}
		if !strings.Contains(err.Error(), tc.args[1][strings.LastIndex(tc.args[1], ",")+1:]) {
			t.Errorf("%v: %v does not name the value", tc.args, err)
		}
	}
}
