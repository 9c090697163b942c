package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/chromedp/chromedp"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/console"
	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// EnvScreenshot names a file the browser test writes its screenshot of the console to
// (docs/console.png is one, committed).
const EnvScreenshot = "HSMSIM_CONSOLE_SCREENSHOT"

// hsmView is an HSM as the page draws it.
type hsmView struct {
	Label, AZ, State string
	Leader           bool
}

// pageHSMs reads the HSMs off the page (the DOM, not the state document).
const pageHSMs = `[...document.querySelectorAll('.hsm')].map(e => ({Label: e.dataset.label, AZ: e.closest('.az').dataset.az, State: e.dataset.state, Leader: e.dataset.leader === 'true'}))`

// TestConsoleInABrowserPartitionsAnAZAndSeesTheClusterHeal drives the console of a running
// embedded stack in Chromium: it sees three HSMs in three AZs and a key store connect, partitions the leader's AZ with
// the page's button and sees that HSM lose its place and another AZ's HSM lead, sees a KMS
// request it made in the request table, clears the faults from the keyboard and sees every HSM
// ACTIVE again; on a phone-wide window the page does not scroll sideways.
func TestConsoleInABrowserPartitionsAnAZAndSeesTheClusterHeal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and a browser")
	}
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make test installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := embedded.Up(ctx, embedded.Options{DataDir: t.TempDir(), BasePort: base, KMSListen: "127.0.0.1:0", NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 1100))...)
	defer cancelAlloc()
	page, cancelPage := chromedp.NewContext(alloc)
	defer cancelPage()
	if err := chromedp.Do(page, chromedp.Navigate(c.State.KMSURL+console.Path)); err != nil {
		t.Fatal(err)
	}

	hsms := waitPage(t, page, "three HSMs in three AZs, one leading", func(hs []hsmView) bool {
		azs := map[string]bool{}
		for _, h := range hs {
			azs[h.AZ] = h.State == "ACTIVE"
		}
		return len(hs) == 3 && len(azs) == 3 && leaders(hs) == 1 && allActive(hs)
	})
	// A custom key store on the cluster, connected: the page shows it and its state.
	k := awskms.New(awskms.Options{Region: c.State.Region, BaseEndpoint: aws.String(c.State.KMSURL),
		Credentials: credentials.NewStaticCredentialsProvider(c.State.AccessKeyID, c.State.SecretKey, "")})
	ca, err := os.ReadFile(c.CustomerCAPath())
	if err != nil {
		t.Fatal(err)
	}
	ks, err := k.CreateCustomKeyStore(ctx, &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("console"),
		CloudHsmClusterId: aws.String(c.State.ClusterID), TrustAnchorCertificate: aws.String(string(ca)), KeyStorePassword: aws.String(c.State.KMSUserPass)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.ConnectCustomKeyStore(ctx, &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: ks.CustomKeyStoreId}); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, page, "the key store CONNECTED", fmt.Sprintf(`(document.querySelector('#stores tr[data-store-id=%q] td:last-child') || {}).textContent === "CONNECTED"`, *ks.CustomKeyStoreId))

	var cut string
	for _, h := range hsms {
		if h.Leader {
			cut = h.AZ
		}
	}
	if err := chromedp.Do(page, chromedp.Click(chromedp.ID("partition-"+cut))); err != nil {
		t.Fatal(err)
	}
	partitioned := func(hs []hsmView) bool {
		other := false
		for _, h := range hs {
			if h.AZ == cut && (h.State == "ACTIVE" || h.Leader) {
				return false
			}
			other = other || h.Leader && h.AZ != cut
		}
		return other
	}
	waitPage(t, page, "the partitioned AZ's HSM out of touch and another AZ's HSM leading", partitioned)

	if _, err := k.ListKeys(ctx, &awskms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, page, "the ListKeys request in the request table",
		fmt.Sprintf(`!!document.querySelector('#requests tr[data-operation="ListKeys"]') && document.querySelector('#requests tr[data-operation="ListKeys"] td:nth-child(3)').textContent === %q`, "arn:aws:iam::"+c.State.AccountID+":root"))
	waitTrue(t, page, "the partition in the list of faults", `document.querySelectorAll('#faults li[data-fault-id]').length === 1`)
	// The page polled the key stores every second, but those reads are not requests: the audit
	// trail holds none of them.
	for _, r := range c.Trail.Recent(1000) {
		if r.EventName == "DescribeCustomKeyStores" {
			t.Fatalf("the console's own key store reads reached the audit trail: %+v", r)
		}
	}
	if p := os.Getenv(EnvScreenshot); p != "" {
		waitPage(t, page, "the partition again, for the screenshot", partitioned)
		shot, err := chromedp.Run(page, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// From the keyboard: focus the button and press Enter.
	if err := chromedp.Do(page, chromedp.Focus(chromedp.ID("clear-all")), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	waitPage(t, page, "every HSM ACTIVE again with one leader", func(hs []hsmView) bool {
		return len(hs) == 3 && allActive(hs) && leaders(hs) == 1
	})
	waitTrue(t, page, "no fault in force", `document.querySelectorAll('#faults li[data-fault-id]').length === 0`)

	if err := chromedp.Do(page, chromedp.EmulateViewport(360, 740)); err != nil {
		t.Fatal(err)
	}
	waitTrue(t, page, "no sideways scrolling at 360 px", `document.documentElement.scrollWidth <= window.innerWidth`)
}

func leaders(hs []hsmView) int {
	n := 0
	for _, h := range hs {
		if h.Leader {
			n++
		}
	}
	return n
}

func allActive(hs []hsmView) bool {
	for _, h := range hs {
		if h.State != "ACTIVE" {
			return false
		}
	}
	return true
}

// waitPage polls the page's HSMs until ok holds (60 s at most).
func waitPage(t *testing.T, page context.Context, what string, ok func([]hsmView) bool) []hsmView {
	t.Helper()
	var last []hsmView
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		raw, err := chromedp.Run(page, chromedp.Evaluate[json.RawMessage](pageHSMs))
		if err == nil && json.Unmarshal(raw, &last) == nil && ok(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s; last: %+v", what, last)
	return nil
}

// waitTrue polls a JavaScript condition on the page (30 s at most).
func waitTrue(t *testing.T, page context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if ok, err := chromedp.Run(page, chromedp.Evaluate[bool](cond)); err == nil && ok {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the page never showed %s", what)
}
