package keyimport

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUnwrapOpenSSL wraps key material with the openssl binary exactly as the AWS guide ("Encrypt
// key material") shows, for each wrapping algorithm, and unwraps it here.
func TestUnwrapOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl binary")
	}
	priv, err := NewWrappingKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubFile := filepath.Join(dir, "WrappingPublicKey.bin")
	write(t, pubFile, pubDER)
	material := make([]byte, 32)
	_, _ = rand.Read(material)
	matFile := filepath.Join(dir, "PlaintextKeyMaterial.bin")
	write(t, matFile, material)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(openssl, args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	oaep := func(md, in, out string) {
		run("pkeyutl", "-encrypt", "-in", in, "-out", out, "-inkey", pubFile, "-keyform", "DER", "-pubin",
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+md, "-pkeyopt", "rsa_mgf1_md:"+md)
	}
	for _, tc := range []struct{ alg, md string }{{RSAESOAEPSHA1, "sha1"}, {RSAESOAEPSHA256, "sha256"}} {
		out := filepath.Join(dir, tc.alg)
		oaep(tc.md, matFile, out)
		got, err := Unwrap(priv, tc.alg, read(t, out))
		if err != nil || !bytes.Equal(got, material) {
			t.Fatalf("%s: %x %v", tc.alg, got, err)
		}
		if _, err := Unwrap(priv, otherOAEP(tc.alg), read(t, out)); !errors.Is(err, ErrUndecryptable) {
			t.Fatalf("%s unwrapped as the other hash: %v", tc.alg, err)
		}
	}
	// RSA_AES_KEY_WRAP: an ephemeral AES-256 key wraps the material (AES key wrap with padding,
	// RFC 5649), the RSA key wraps the AES key (OAEP), and the two are concatenated.
	aesKey := make([]byte, 32)
	_, _ = rand.Read(aesKey)
	aesFile := filepath.Join(dir, "aes.key")
	write(t, aesFile, aesKey)
	for _, tc := range []struct{ alg, md string }{{RSAAESKeyWrapSHA1, "sha1"}, {RSAAESKeyWrapSHA256, "sha256"}} {
		wrappedAES := filepath.Join(dir, tc.alg+".aes")
		oaep(tc.md, aesFile, wrappedAES)
		wrappedMat := filepath.Join(dir, tc.alg+".mat")
		run("enc", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(aesKey), "-iv", "A65959A6", "-in", matFile, "-out", wrappedMat)
		blob := append(read(t, wrappedAES), read(t, wrappedMat)...)
		got, err := Unwrap(priv, tc.alg, blob)
		if err != nil || !bytes.Equal(got, material) {
			t.Fatalf("%s: %x %v", tc.alg, got, err)
		}
		if _, err := Unwrap(priv, tc.alg, blob[:len(blob)-8]); !errors.Is(err, ErrUndecryptable) {
			t.Fatalf("%s truncated: %v", tc.alg, err)
		}
	}
}

func otherOAEP(alg string) string {
	if alg == RSAESOAEPSHA1 {
		return RSAESOAEPSHA256
	}
	return RSAESOAEPSHA1
}

// TestWrapRoundTrip: Wrap (the client side, for Go callers and tests) and Unwrap agree for every
// algorithm and wrapping key size.
func TestWrapRoundTrip(t *testing.T) {
	for _, spec := range []string{RSA2048, RSA3072} {
		priv, err := NewWrappingKey(spec)
		if err != nil {
			t.Fatal(err)
		}
		if priv.N.BitLen() != map[string]int{RSA2048: 2048, RSA3072: 3072}[spec] {
			t.Fatalf("%s: %d bits", spec, priv.N.BitLen())
		}
		for _, alg := range []string{RSAESOAEPSHA1, RSAESOAEPSHA256, RSAAESKeyWrapSHA1, RSAAESKeyWrapSHA256} {
			material := []byte("0123456789abcdef0123456789abcdef")
			w, err := Wrap(&priv.PublicKey, alg, material)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unwrap(priv, alg, w)
			if err != nil || !bytes.Equal(got, material) {
				t.Fatalf("%s %s: %v", spec, alg, err)
			}
		}
	}
	if _, err := NewWrappingKey("RSA_1024"); !errors.Is(err, ErrUnsupportedSpec) {
		t.Fatalf("RSA_1024: %v", err)
	}
}

// TestCheckParameters: the wrapping algorithms and key specs AWS answers outside China.
func TestCheckParameters(t *testing.T) {
	for _, tc := range []struct {
		alg, spec string
		want      error
	}{
		{RSAESOAEPSHA256, RSA4096, nil},
		{RSAAESKeyWrapSHA1, RSA2048, nil},
		{"RSAES_PKCS1_V1_5", RSA2048, ErrDeprecatedAlgorithm},
		{"SM2PKE", "SM2", ErrSM2},
		{RSAESOAEPSHA256, "SM2", ErrSM2},
		{"SM2PKE", RSA2048, ErrSM2},
	} {
		if err := CheckParameters(tc.alg, tc.spec); !errors.Is(err, tc.want) {
			t.Fatalf("%s/%s: %v, want %v", tc.alg, tc.spec, err, tc.want)
		}
	}
}

// testSealer stands in for the KMS's master-key sealing.
type testSealer struct{}

func (s testSealer) Seal(plain []byte, aad string) []byte {
	return append([]byte(aad+"|"), plain...) // not secret: the tests only need the AAD binding
}

func (s testSealer) Unseal(sealed []byte, aad string) ([]byte, error) {
	rest, ok := bytes.CutPrefix(sealed, []byte(aad+"|"))
	if !ok {
		return nil, errors.New("wrong aad")
	}
	return bytes.Clone(rest), nil // a fresh buffer, as a real unsealing gives
}

// TestTokenSealing: a token carries its key id, algorithm, expiry and wrapping key; anything
// that is not a token it sealed opens as ErrInvalidToken.
func TestTokenSealing(t *testing.T) {
	priv, err := NewWrappingKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	valid := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := &Token{KeyID: "k1", Algorithm: RSAESOAEPSHA256, ValidTo: valid, WrappingKey: priv}
	b, err := tok.Seal(testSealer{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenToken(testSealer{}, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.ID != tok.ID || got.KeyID != "k1" || got.Algorithm != RSAESOAEPSHA256 || !got.ValidTo.Equal(valid) || !got.WrappingKey.Equal(priv) {
		t.Fatalf("token: %+v", got)
	}
	for _, bad := range [][]byte{nil, []byte("x"), append([]byte{9}, b[1:]...), b[:len(b)-1]} {
		if _, err := OpenToken(testSealer{}, bad); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if len(b) > 6144 {
		t.Fatalf("token of %d bytes: the model allows 6144", len(b))
	}
}

// TestCheckMaterial: what each key spec accepts (AWS "Requirements for imported key material").
func TestCheckMaterial(t *testing.T) {
	if _, err := CheckMaterial("SYMMETRIC_DEFAULT", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{16, 31, 33} {
		if _, err := CheckMaterial("SYMMETRIC_DEFAULT", make([]byte, n)); !errors.Is(err, ErrIncorrectMaterial) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	for spec, ok := range map[string][2]int{"HMAC_224": {28, 64}, "HMAC_256": {32, 64}, "HMAC_384": {48, 128}, "HMAC_512": {64, 128}} {
		for _, n := range []int{ok[0], ok[1]} {
			if _, err := CheckMaterial(spec, make([]byte, n)); err != nil {
				t.Fatalf("%s %d: %v", spec, n, err)
			}
		}
		for _, n := range []int{ok[0] - 1, ok[1] + 1} {
			if _, err := CheckMaterial(spec, make([]byte, n)); !errors.Is(err, ErrIncorrectMaterial) {
				t.Fatalf("%s %d: %v", spec, n, err)
			}
		}
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	m, err := CheckMaterial("RSA_2048", der)
	if err != nil || m.PublicKey == nil {
		t.Fatalf("RSA_2048: %v", err)
	}
	if _, err := CheckMaterial("RSA_3072", der); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("RSA_2048 material for RSA_3072: %v", err)
	}
	if _, err := CheckMaterial("ECC_NIST_P256", der); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("RSA material for ECC_NIST_P256: %v", err)
	}
	if _, err := CheckMaterial("RSA_2048", der[:100]); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("truncated PKCS#8: %v", err)
	}
}

func TestMaterialID(t *testing.T) {
	a := MaterialID("k1", []byte("m"))
	if len(a) != 64 || a == MaterialID("k2", []byte("m")) || a == MaterialID("k1", []byte("n")) || a != MaterialID("k1", []byte("m")) {
		t.Fatalf("MaterialID: %s", a)
	}
	sum := sha256.Sum256([]byte("m"))
	if strings.Contains(a, hex.EncodeToString(sum[:])) {
		t.Fatal("the id is the material's plain hash")
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
