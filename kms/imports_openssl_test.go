package kms

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestImportWithOpenSSLAsTheGuideShows follows AWS's "Encrypt the key material" step with the
// real openssl binary: key material from `openssl rand`, wrapped with `openssl pkeyutl` (RSAES-OAEP
// with SHA-256 and MGF1 SHA-256) under the downloaded DER public key, imported, then used. After a
// delete it imports the same material again with RSA_AES_KEY_WRAP_SHA_256 (an AES key under
// OAEP, the material under `openssl enc -id-aes256-wrap-pad`), and a ciphertext made before the
// delete decrypts again.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-encrypt-key-material.html
func TestImportWithOpenSSLAsTheGuideShows(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl binary")
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	e := newEnv(t, Config{})
	id := aws.ToString(e.createExternal(t, "", "").KeyId)
	k := aws.String(id)

	// Steps 2 and 3: download the wrapping key and token, make and wrap the material.
	download := func(alg types.AlgorithmSpec) []byte {
		p, err := e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: k, WrappingAlgorithm: alg, WrappingKeySpec: types.WrappingKeySpecRsa4096})
		check(t, err)
		check(t, os.WriteFile(file("WrappingPublicKey.bin"), p.PublicKey, 0o600))
		return p.ImportToken
	}
	token := download(types.AlgorithmSpecRsaesOaepSha256)
	run("rand", "-out", "PlaintextKeyMaterial.bin", "32")
	run("pkeyutl", "-encrypt", "-in", "PlaintextKeyMaterial.bin", "-out", "EncryptedKeyMaterial.bin", "-inkey", "WrappingPublicKey.bin",
		"-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	read := func(name string) []byte {
		b, err := os.ReadFile(file(name))
		check(t, err)
		return b
	}
	// Step 4: import.
	out, err := e.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: k, ImportToken: token,
		EncryptedKeyMaterial: read("EncryptedKeyMaterial.bin"), ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	check(t, err)
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k, Plaintext: []byte("wrapped by openssl")})
	check(t, err)
	dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "wrapped by openssl" || aws.ToString(dec.KeyMaterialId) != aws.ToString(out.KeyMaterialId) {
		t.Fatalf("Decrypt: %+v", dec)
	}

	check(t, tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k})))
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantErr(t, err, "KMSInvalidStateException")

	// Re-import the same material with RSA_AES_KEY_WRAP_SHA_256.
	token = download(types.AlgorithmSpecRsaAesKeyWrapSha256)
	run("rand", "-out", "aes-key.bin", "32")
	run("pkeyutl", "-encrypt", "-in", "aes-key.bin", "-out", "EncryptedAesKey.bin", "-inkey", "WrappingPublicKey.bin",
		"-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
	run("enc", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(read("aes-key.bin")), "-iv", "A65959A6",
		"-in", "PlaintextKeyMaterial.bin", "-out", "WrappedKeyMaterial.bin")
	wrapped := append(read("EncryptedAesKey.bin"), read("WrappedKeyMaterial.bin")...)
	again, err := e.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: k, ImportToken: token,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	check(t, err)
	if aws.ToString(again.KeyMaterialId) != aws.ToString(out.KeyMaterialId) {
		t.Fatal("the same material imported twice has two ids")
	}
	dec, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "wrapped by openssl" {
		t.Fatalf("ciphertext from before the delete: %q", dec.Plaintext)
	}
}
