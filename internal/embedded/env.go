package embedded

import (
	"os"
	"path/filepath"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// Env is what `hsmsim env` exports for the cluster of a data directory: the variables the
// hsmsim client and the PKCS#11 module read and, when the KMS runs, the ones the AWS SDKs and
// the aws CLI read, so a program works against hsmsim unchanged.
func Env(dir string, st *State) [][2]string {
	cfg := filepath.Join(dir, ConfigFile)
	vars := [][2]string{
		{client.EnvConfig, cfg},
		{client.EnvPKCS11Config, cfg},
		{"HSMSIM_PKCS11_MODULE", ModulePath()},
		{"HSMSIM_CLUSTER_ID", st.ClusterID},
		{"HSMSIM_TRUST_ANCHOR", TrustAnchorPath(dir, st)},
		{"HSMSIM_CUSTOMER_CA", filepath.Join(dir, CustomerCAFile)},
		{"HSMSIM_PIN", st.CryptoUser + ":" + st.CryptoPass},
		{"HSMSIM_KMSUSER_PASSWORD", st.KMSUserPass},
		{"HSMSIM_DATA", dir},
	}
	if st.KMSURL != "" {
		vars = append(vars, [][2]string{
			{"AWS_ENDPOINT_URL_KMS", st.KMSURL},
			{"AWS_ENDPOINT_URL_CLOUDHSM_V2", st.KMSURL},
			// IAM and STS share the KMS's endpoint (kms/iam): users, access keys, roles and
			// AssumeRole for testing authorization.
			{"AWS_ENDPOINT_URL_IAM", st.KMSURL},
			{"AWS_ENDPOINT_URL_STS", st.KMSURL},
			{"AWS_REGION", st.Region},
			{"AWS_DEFAULT_REGION", st.Region},
			{"AWS_ACCESS_KEY_ID", st.AccessKeyID},
			{"AWS_SECRET_ACCESS_KEY", st.SecretKey},
		}...)
	}
	return vars
}

// ModulePath finds libhsmsim-pkcs11.so for the cluster's clients: $HSMSIM_PKCS11_MODULE, or
// beside the running hsmsim binary (bin/hsmsim → build/libhsmsim-pkcs11.so, as "make build"
// lays them out).
func ModulePath() string {
	if p := os.Getenv("HSMSIM_PKCS11_MODULE"); p != "" {
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		return "libhsmsim-pkcs11.so"
	}
	dir := filepath.Dir(exe)
	for _, p := range []string{filepath.Join(dir, "..", "build", "libhsmsim-pkcs11.so"), filepath.Join(dir, "libhsmsim-pkcs11.so")} {
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return "(not built: run make build)"
}
