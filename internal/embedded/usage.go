package embedded

import (
	"fmt"
	"io"

	"github.com/hsmsim/hsmsim/hsmd/capacity"
	"github.com/hsmsim/hsmsim/internal/console"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/internal/metrics"
)

// PrintUsage tells the user of `hsmsim up` what runs and how to point every client at it.
func (c *Cluster) PrintUsage(w io.Writer) {
	st := c.State
	fmt.Fprintf(w, "hsmsim is up: cluster %s, data in %s\n\n", st.ClusterID, c.Dir)
	sockets := map[string]string{}
	for _, m := range c.Members {
		sockets[m.ID()] = m.Socket()
	}
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "  %s  %-11s node API %s (TLS)", n.ID, n.AZ, n.APIAddr)
		if s := sockets[n.ID]; s != "" {
			fmt.Fprintf(w, ", %s (this user only)", s)
		}
		fmt.Fprintln(w)
	}
	mod := ModulePath()
	fmt.Fprintf(w, `
Trust anchor:   %s   (the HSMs' TLS CA; the client config names it)
Customer CA:    %s   (InitializeCluster's trust anchor; a key store's TrustAnchorCertificate)
Client config:  %s
PKCS#11 module: %s
Crypto user:    PIN %s:%s   (admin: admin:%s, kmsuser password %s)
`, c.TrustAnchorPath(), c.CustomerCAPath(), c.ConfigPath(), mod, st.CryptoUser, st.CryptoPass, st.AdminPassword, st.KMSUserPass)
	if st.KMSURL != "" {
		fmt.Fprintf(w, "KMS, CloudHSM, IAM, STS: %s   (region %s, account %s)\n", st.KMSURL, st.Region, st.AccountID)
		fmt.Fprintf(w, "Live faults:    hsmsim fault add|list|clear, or HTTP on %s%s\n", st.KMSURL, faultctl.Path)
		fmt.Fprintf(w, "Web console:    %s%s\n", st.KMSURL, console.Path)
		fmt.Fprintf(w, "Metrics:        %s%s   (Prometheus)\n", st.KMSURL, metrics.Path)
		fmt.Fprintf(w, "KMS audit:      hsmsim audit kms --data-dir %s   (CloudTrail-shaped records in %s)\n", c.Dir, TrailDir(c.Dir))
	}
	if c.Quotas != nil {
		fmt.Fprintf(w, "Capacity:       %s profile: each HSM at its type's published rates, AWS KMS request quotas (ThrottlingException)\n", capacity.ProfileCloudHSM)
	}
	fmt.Fprintf(w, `
In another shell:
  eval "$(hsmsim env --data-dir %s)"
  hsmsim info
  hsmsim key list
  pkcs11-tool --module "$HSMSIM_PKCS11_MODULE" --login --pin "$HSMSIM_PIN" --list-objects
  hsmsim user list --pin admin:%s
  aws kms create-key --description demo
  aws cloudhsmv2 describe-clusters
  aws iam create-user --user-name app && aws iam create-access-key --user-name app

Ctrl-C stops the cluster; "hsmsim up" again resumes it.
`, c.Dir, st.AdminPassword)
}
