package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/console"
	"github.com/hsmsim/hsmsim/internal/embedded"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// TestImageServesTheKMSAndTheHSMsFromItsRootFilesystem builds the container image with "make
// image", exports its root filesystem and runs its entry point, with the image's environment,
// under chroot (this machine builds images but cannot run containers; the chroot gives the
// binary what a container would: the image's files and nothing else, no /tmp, no CA files, no
// user database). From outside it then uses the KMS with the AWS SDK and the HSMs through the
// client config the container wrote in its volume, as a host's PKCS#11 module would.
func TestImageServesTheKMSAndTheHSMsFromItsRootFilesystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the container image")
	}
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root (CI runs as root)")
	}
	tool := containerTool()
	if tool == "" {
		t.Skip("neither podman nor docker is installed (make test installs podman)")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	image := "localhost/hsmsim-test:" + strconv.Itoa(os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "-C", root, "image", "IMAGE="+image, "IMAGE_DIR="+t.TempDir())
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(tool, "rmi", "-f", image).Run() })

	rootfs, entry, env := exportImage(ctx, t, tool, image)
	if _, err := os.Stat(filepath.Join(rootfs, "etc")); err == nil {
		t.Errorf("the image has an /etc: want nothing but the binary (FROM scratch)")
	}
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	_, kmsPort, _ := net.SplitHostPort(freePort(t))
	// The image's environment, with ports free on this machine (a container has its own).
	env = append(env, "HSMSIM_KMS_LISTEN=0.0.0.0:"+kmsPort)
	args := append(append([]string{rootfs}, entry...), "--base-port", strconv.Itoa(base))
	cmd := exec.Command("chroot", args...)
	cmd.Env, cmd.Dir = env, "/"
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(cmd) })
	waitFor(t, 120*time.Second, func() bool { return strings.Contains(logs.String(), "hsmsim is up") }, func() string { return "hsmsim up in the image did not come up:\n" + logs.String() })

	data := filepath.Join(rootfs, "data")
	st, err := embedded.LoadState(data)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(st.KMSURL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() != kmsPort {
		t.Fatalf("the state names the KMS at %q, want http://127.0.0.1:%s (the advertised host)", st.KMSURL, kmsPort)
	}
	// The KMS through the AWS SDK, at the loopback address and at another of this machine's
	// addresses (as a published port reaches the container's interface).
	for _, endpoint := range []string{st.KMSURL, otherAddressURL(st.KMSURL)} {
		if endpoint == "" {
			continue
		}
		k := awskms.New(awskms.Options{Region: st.Region, BaseEndpoint: aws.String(endpoint),
			Credentials: credentials.NewStaticCredentialsProvider(st.AccessKeyID, st.SecretKey, "")})
		key, err := k.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("from outside the image")})
		if err != nil {
			t.Fatalf("CreateKey at %s: %v", endpoint, err)
		}
		enc, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("hello")})
		if err != nil {
			t.Fatalf("Encrypt at %s: %v", endpoint, err)
		}
		dec, err := k.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "hello" {
			t.Fatalf("Decrypt at %s: %q %v", endpoint, dec.Plaintext, err)
		}
	}
	// The HSMs through the client config in the volume, as "hsmsim env" names it on the host.
	bin := buildCLI(t)
	out, err := exec.Command(bin, "env", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("hsmsim env: %v", err)
	}
	cfgPath := ""
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "export "+client.EnvConfig+"="); ok {
			cfgPath = strings.Trim(v, "'")
		}
	}
	cfg, err := client.LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range cfg.Nodes {
		if host, _, _ := net.SplitHostPort(n.Addr); host != "127.0.0.1" {
			t.Errorf("client config node %s at %s: want the advertised host 127.0.0.1", n.ID, n.Addr)
		}
	}
	cl, err := client.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, st.CryptoUser, st.CryptoPass); err != nil {
		t.Fatalf("login to the HSMs in the image: %v", err)
	}
	members, err := cl.Refresh(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("members seen from outside: %v %v, want 3", members, err)
	}
	// The console's embedded page, and an HSM fault (nothing the image lacks is needed).
	res, err := http.Get(st.KMSURL + console.Path)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the console in the image: %v %v", res, err)
	}
	res.Body.Close()
	res, err = http.Post(st.KMSURL+faultctl.Path, "application/json", strings.NewReader(`{"do":"kill","node":"n1","for":"30s"}`))
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("killing an HSM in the image: %v %v", res, err)
	}
	res.Body.Close()
	req, _ := http.NewRequest(http.MethodDelete, st.KMSURL+faultctl.Path, nil)
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("clearing the faults in the image: %v %v", res, err)
	}
	res.Body.Close()
}

// containerTool is podman, else docker ("" when neither is installed).
func containerTool() string {
	for _, tool := range []string{"podman", "docker"} {
		if p, err := exec.LookPath(tool); err == nil {
			return p
		}
	}
	return ""
}

// exportImage unpacks the root filesystem of image (through a created, never started,
// container) and returns it with the image's entry point and environment.
func exportImage(ctx context.Context, t *testing.T, tool, image string) (rootfs string, entry, env []string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, tool, "image", "inspect", image).Output()
	if err != nil {
		t.Fatalf("%s image inspect: %v", tool, err)
	}
	var inspect []struct {
		Config struct{ Entrypoint, Cmd, Env []string }
	}
	if err := json.Unmarshal(out, &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("image inspect: %v\n%s", err, out)
	}
	c := inspect[0].Config
	entry, env = append(c.Entrypoint, c.Cmd...), c.Env
	id, err := exec.CommandContext(ctx, tool, "create", image).Output()
	if err != nil {
		t.Fatalf("%s create: %v", tool, err)
	}
	container := strings.TrimSpace(string(id))
	defer func() { _ = exec.Command(tool, "rm", "-f", container).Run() }()
	tarball, err := exec.CommandContext(ctx, tool, "export", container).Output()
	if err != nil {
		t.Fatalf("%s export: %v", tool, err)
	}
	rootfs = filepath.Join(t.TempDir(), "rootfs")
	if err := untar(bytes.NewReader(tarball), rootfs); err != nil {
		t.Fatal(err)
	}
	return rootfs, entry, env
}

// untar unpacks the directories and regular files of an exported root filesystem.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = writeFrom(p, os.FileMode(h.Mode)&0o777, tr)
			}
		}
		if err != nil {
			return err
		}
	}
}

func writeFrom(p string, mode os.FileMode, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// otherAddressURL is u on another IPv4 address of this machine ("" when it has none).
func otherAddressURL(u string) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
			return strings.Replace(u, "127.0.0.1", ip.IP.String(), 1)
		}
	}
	return ""
}

// syncBuffer is a process's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond until it holds, failing with why() after within.
func waitFor(t *testing.T, within time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(why())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopProcess interrupts cmd and kills it if it has not stopped within 20 s.
func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
