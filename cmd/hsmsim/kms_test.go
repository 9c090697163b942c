package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/internal/ports"
)

// startUp runs "hsmsim up" in its own process and returns its data directory once it serves.
func startUp(t *testing.T, bin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "up", "--data-dir", dir, "--base-port", strconv.Itoa(base), "--kms-listen", freePort(t), "--log-level", "warn")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopProcess(cmd)
		if t.Failed() {
			t.Logf("hsmsim up:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(logs.String(), "hsmsim is up") {
		if time.Now().After(deadline) {
			t.Fatalf("hsmsim up did not come up:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return dir
}

// hsmsimEnv runs "hsmsim env" and parses its export lines.
func hsmsimEnv(t *testing.T, bin, dir string) map[string]string {
	t.Helper()
	out, err := exec.Command(bin, "env", "--data-dir", dir).Output()
	if err != nil {
		t.Fatalf("hsmsim env: %v", err)
	}
	vars := map[string]string{}
	line := regexp.MustCompile(`^export ([A-Z0-9_]+)='(.*)'$`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Fatalf("hsmsim env: unexpected line %q", sc.Text())
		}
		vars[m[1]] = strings.ReplaceAll(m[2], `'\''`, `'`)
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_CLOUDHSM_V2", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if vars[k] == "" {
			t.Fatalf("hsmsim env does not set %s:\n%s", k, out)
		}
	}
	return vars
}

// isolate keeps the host's AWS configuration (profiles, config files) out of a test.
func isolate(t *testing.T) {
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
}

// TestUpServesTheKMSToTheSDKAndTheAWSCLI runs "hsmsim up" as a process, takes "hsmsim env" as
// a user's shell would, and uses it with no other configuration: an AWS SDK program built with
// config.LoadDefaultConfig (the variables alone point it at hsmsim), then the aws CLI.
func TestUpServesTheKMSToTheSDKAndTheAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hsmsim up")
	}
	bin := buildCLI(t)
	dir := startUp(t, bin)
	vars := hsmsimEnv(t, bin, dir)
	isolate(t)
	for k, v := range vars {
		t.Setenv(k, v)
	}

	// (d) An SDK program, unchanged: the default config reads the variables.
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := awskms.NewFromConfig(cfg)
	key, err := k.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("from the SDK")})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := k.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("Decrypt: %q %v", dec.Plaintext, err)
	}
	clusters, err := hsm.NewFromConfig(cfg).DescribeClusters(ctx, &hsm.DescribeClustersInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(clusters.Clusters) != 1 || aws.ToString(clusters.Clusters[0].ClusterId) != vars["HSMSIM_CLUSTER_ID"] ||
		clusters.Clusters[0].State != "ACTIVE" || len(clusters.Clusters[0].Hsms) != 3 {
		t.Fatalf("DescribeClusters: %+v", clusters.Clusters)
	}
	// What the requests left: the metrics on the endpoint's port, and the KMS's audit trail.
	resp, err := http.Get(vars["AWS_ENDPOINT_URL_KMS"] + "/_hsmsim/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(scraped), `hsmsim_aws_requests_total{operation="Encrypt",outcome="ok",service="kms"} 1`+"\n") {
		t.Errorf("the metrics do not count the Encrypt:\n%s", scraped)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, err := exec.Command(bin, "audit", "kms", "--data-dir", dir, "--event-name", "Encrypt,Decrypt").CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil && len(lines) == 2 && strings.Contains(lines[0], " Encrypt ") && strings.Contains(lines[1], " Decrypt ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hsmsim audit kms: %v\n%s", err, out)
		}
	}

	// (c) The aws CLI: a key, encrypt and decrypt, then a custom key store on the cluster.
	awsBin := ""
	for _, c := range []string{"/usr/bin/aws", "aws"} { // Debian's awscli first
		if p, err := exec.LookPath(c); err == nil {
			awsBin = p
			break
		}
	}
	if awsBin == "" {
		t.Skip("no aws CLI (apt-get install awscli): the aws CLI part is skipped")
	}
	extra := cliEndpoint(t, awsBin, vars["AWS_ENDPOINT_URL_KMS"])
	awsCLI := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(awsBin, append(slices.Clone(extra), args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	id := awsCLI("kms", "create-key", "--description", "from the aws CLI", "--query", "KeyMetadata.KeyId", "--output", "text")
	plain := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(plain, []byte("secret bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	ct := awsCLI("kms", "encrypt", "--key-id", id, "--plaintext", "fileb://"+plain, "--query", "CiphertextBlob", "--output", "text")
	blob, err := base64.StdEncoding.DecodeString(ct)
	if err != nil {
		t.Fatalf("encrypt output %q: %v", ct, err)
	}
	blobFile := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	pt := awsCLI("kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile, "--query", "Plaintext", "--output", "text")
	if got, _ := base64.StdEncoding.DecodeString(pt); string(got) != "secret bytes" {
		t.Fatalf("decrypt: %q", got)
	}
	// A data key pair through the aws CLI: the encrypted private key decrypts to the private
	// key returned in the clear, which is the public key's half; without the plaintext, only the
	// ciphertext and the public key come back.
	var pair struct{ PrivateKeyCiphertextBlob, PrivateKeyPlaintext, PublicKey, KeyPairSpec string }
	if err := json.Unmarshal([]byte(awsCLI("kms", "generate-data-key-pair", "--key-id", id, "--key-pair-spec", "ECC_NIST_P256",
		"--encryption-context", "purpose=cli", "--output", "json")), &pair); err != nil {
		t.Fatal(err)
	}
	privCT, err1 := base64.StdEncoding.DecodeString(pair.PrivateKeyCiphertextBlob)
	privDER, err2 := base64.StdEncoding.DecodeString(pair.PrivateKeyPlaintext)
	pubDER, err3 := base64.StdEncoding.DecodeString(pair.PublicKey)
	if err := errors.Join(err1, err2, err3); err != nil || pair.KeyPairSpec != "ECC_NIST_P256" {
		t.Fatalf("generate-data-key-pair: %v %+v", err, pair)
	}
	privFile := filepath.Join(t.TempDir(), "private-key-ciphertext")
	if err := os.WriteFile(privFile, privCT, 0o600); err != nil {
		t.Fatal(err)
	}
	pt = awsCLI("kms", "decrypt", "--ciphertext-blob", "fileb://"+privFile, "--encryption-context", "purpose=cli", "--query", "Plaintext", "--output", "text")
	if got, _ := base64.StdEncoding.DecodeString(pt); !bytes.Equal(got, privDER) {
		t.Fatal("decrypt of PrivateKeyCiphertextBlob: not the private key generate-data-key-pair returned")
	}
	priv, err := x509.ParsePKCS8PrivateKey(privDER)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.(*ecdsa.PrivateKey).PublicKey.Equal(pub) {
		t.Fatal("generate-data-key-pair: the public key is not the private key's")
	}
	if out := awsCLI("kms", "generate-data-key-pair-without-plaintext", "--key-id", id, "--key-pair-spec", "RSA_2048", "--output", "json"); strings.Contains(out, "PrivateKeyPlaintext") || !strings.Contains(out, "PrivateKeyCiphertextBlob") {
		t.Fatalf("generate-data-key-pair-without-plaintext: %s", out)
	}

	store := awsCLI("kms", "create-custom-key-store", "--custom-key-store-name", "cli-store", "--cloud-hsm-cluster-id", vars["HSMSIM_CLUSTER_ID"],
		"--trust-anchor-certificate", "file://"+vars["HSMSIM_CUSTOMER_CA"], "--key-store-password", vars["HSMSIM_KMSUSER_PASSWORD"],
		"--query", "CustomKeyStoreId", "--output", "text")
	awsCLI("kms", "connect-custom-key-store", "--custom-key-store-id", store)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var d struct {
			CustomKeyStores []struct{ ConnectionState, ConnectionErrorCode string }
		}
		if err := json.Unmarshal([]byte(awsCLI("kms", "describe-custom-key-stores", "--custom-key-store-id", store, "--output", "json")), &d); err != nil {
			t.Fatal(err)
		}
		st := d.CustomKeyStores[0]
		if st.ConnectionState == "CONNECTED" {
			break
		}
		if st.ConnectionState == "FAILED" || time.Now().After(deadline) {
			t.Fatalf("key store %s %s", st.ConnectionState, st.ConnectionErrorCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
	hk := awsCLI("kms", "create-key", "--origin", "AWS_CLOUDHSM", "--custom-key-store-id", store, "--query", "KeyMetadata.KeyId", "--output", "text")
	ct = awsCLI("kms", "encrypt", "--key-id", hk, "--plaintext", "fileb://"+plain, "--query", "CiphertextBlob", "--output", "text")
	if _, err := base64.StdEncoding.DecodeString(ct); err != nil {
		t.Fatalf("encrypt with the HSM key: %q", ct)
	}

	cliImportedKey(t, awsCLI)

	// (e) Authorization with the aws CLI: an IAM user with an access key is denied the key until
	// the administrator grants it Encrypt.
	userARN := awsCLI("iam", "create-user", "--user-name", "cli-app", "--query", "User.Arn", "--output", "text")
	creds := strings.Fields(awsCLI("iam", "create-access-key", "--user-name", "cli-app", "--query", "AccessKey.[AccessKeyId,SecretAccessKey]", "--output", "text"))
	if len(creds) != 2 {
		t.Fatalf("create-access-key: %q", creds)
	}
	asUser := func(args ...string) (string, error) {
		cmd := exec.Command(awsBin, append(slices.Clone(extra), args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds[0], "AWS_SECRET_ACCESS_KEY="+creds[1])
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if who, err := asUser("sts", "get-caller-identity", "--query", "Arn", "--output", "text"); err != nil || who != userARN {
		t.Fatalf("get-caller-identity as the user: %q %v", who, err)
	}
	encrypt := []string{"kms", "encrypt", "--key-id", id, "--plaintext", "fileb://" + plain, "--query", "CiphertextBlob", "--output", "text"}
	out, err := asUser(encrypt...)
	if err == nil || !strings.Contains(out, "AccessDeniedException") || !strings.Contains(out, "User: "+userARN+" is not authorized to perform: kms:Encrypt") {
		t.Fatalf("encrypt as a user without permissions: %v\n%s", err, out)
	}
	awsCLI("kms", "create-grant", "--key-id", id, "--grantee-principal", userARN, "--operations", "Encrypt")
	if out, err := asUser(encrypt...); err != nil {
		t.Fatalf("encrypt through the grant: %v\n%s", err, out)
	}
	if out, err := asUser("kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile); err == nil || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("decrypt is not in the grant: %v\n%s", err, out)
	}

	// (f) A multi-Region key with the aws CLI: replicated into eu-west-1, where a ciphertext of
	// the primary's region decrypts.
	mrk := awsCLI("kms", "create-key", "--multi-region", "--query", "KeyMetadata.KeyId", "--output", "text")
	awsCLI("kms", "replicate-key", "--key-id", mrk, "--replica-region", "eu-west-1")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st := awsCLI("--region", "eu-west-1", "kms", "describe-key", "--key-id", mrk, "--query", "KeyMetadata.KeyState", "--output", "text")
		if st == "Enabled" {
			break
		}
		if st != "Creating" || time.Now().After(deadline) {
			t.Fatalf("replica key state %s", st)
		}
	}
	ct = awsCLI("kms", "encrypt", "--key-id", mrk, "--plaintext", "fileb://"+plain, "--query", "CiphertextBlob", "--output", "text")
	blob, err = base64.StdEncoding.DecodeString(ct)
	if err != nil {
		t.Fatalf("encrypt output %q: %v", ct, err)
	}
	if err := os.WriteFile(blobFile, blob, 0o600); err != nil {
		t.Fatal(err)
	}
	pt = awsCLI("--region", "eu-west-1", "kms", "decrypt", "--ciphertext-blob", "fileb://"+blobFile, "--query", "Plaintext", "--output", "text")
	if got, _ := base64.StdEncoding.DecodeString(pt); string(got) != "secret bytes" {
		t.Fatalf("decrypt in eu-west-1: %q", got)
	}
}

// cliImportedKey is the imported-key round trip of AWS's guide "Importing key material" with the
// aws CLI and openssl: a key with no material, its wrapping public key and import token, key
// material from openssl wrapped with RSAES-OAEP SHA-256, the import, then encrypt and decrypt.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
func cliImportedKey(t *testing.T, awsCLI func(args ...string) string) {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("no openssl: the imported-key round trip is skipped")
		return
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	b64file := func(name, b64 string) {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, b64, err)
		}
		if err := os.WriteFile(file(name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id := awsCLI("kms", "create-key", "--origin", "EXTERNAL", "--query", "KeyMetadata.KeyId", "--output", "text")
	if st := awsCLI("kms", "describe-key", "--key-id", id, "--query", "KeyMetadata.KeyState", "--output", "text"); st != "PendingImport" {
		t.Fatalf("create-key --origin EXTERNAL: state %s", st)
	}
	params := strings.Fields(awsCLI("kms", "get-parameters-for-import", "--key-id", id, "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
		"--wrapping-key-spec", "RSA_2048", "--query", "[PublicKey,ImportToken]", "--output", "text"))
	if len(params) != 2 {
		t.Fatalf("get-parameters-for-import: %q", params)
	}
	b64file("WrappingPublicKey.bin", params[0])
	b64file("ImportToken.bin", params[1])
	for _, args := range [][]string{
		{"rand", "-out", file("PlaintextKeyMaterial.bin"), "32"},
		{"pkeyutl", "-encrypt", "-in", file("PlaintextKeyMaterial.bin"), "-out", file("EncryptedKeyMaterial.bin"),
			"-inkey", file("WrappingPublicKey.bin"), "-keyform", "DER", "-pubin",
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"},
	} {
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	awsCLI("kms", "import-key-material", "--key-id", id, "--encrypted-key-material", "fileb://"+file("EncryptedKeyMaterial.bin"),
		"--import-token", "fileb://"+file("ImportToken.bin"), "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
	if st := awsCLI("kms", "describe-key", "--key-id", id, "--query", "KeyMetadata.KeyState", "--output", "text"); st != "Enabled" {
		t.Fatalf("after import-key-material: state %s", st)
	}
	if err := os.WriteFile(file("plain"), []byte("under imported material"), 0o600); err != nil {
		t.Fatal(err)
	}
	b64file("blob", awsCLI("kms", "encrypt", "--key-id", id, "--plaintext", "fileb://"+file("plain"), "--query", "CiphertextBlob", "--output", "text"))
	pt := awsCLI("kms", "decrypt", "--ciphertext-blob", "fileb://"+file("blob"), "--query", "Plaintext", "--output", "text")
	if got, _ := base64.StdEncoding.DecodeString(pt); string(got) != "under imported material" {
		t.Fatalf("decrypt under imported material: %q", got)
	}
}

// cliEndpoint is what an aws CLI needs besides the variables: nothing for one that reads
// AWS_ENDPOINT_URL_<SERVICE> (v2.13 and v1.29 on), --endpoint-url for an older one (Debian 12
// ships 2.9.19).
func cliEndpoint(t *testing.T, bin, url string) []string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	m := regexp.MustCompile(`aws-cli/(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major > 2 || (major == 2 && minor >= 13) || (major == 1 && minor >= 29) {
			return nil
		}
	}
	t.Logf("%s (%s) predates AWS_ENDPOINT_URL_KMS: passing --endpoint-url", bin, strings.TrimSpace(string(out)))
	return []string{"--endpoint-url", url}
}
