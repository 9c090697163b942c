package kms

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
	"github.com/hsmsim/hsmsim/kms/record"
)

// Multi-Region keys and regions, as AWS documents them:
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-update.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-delete.html
// and the ReplicateKey, UpdatePrimaryRegion and ScheduleKeyDeletion pages of the KMS API Reference.

// regionClient is a KMS client of the test account whose requests are signed for region: one
// endpoint serves every region, the credential scope chooses.
func regionClient(e *testEnv, region string) *awskms.Client {
	return awskms.New(awskms.Options{
		Region:           region,
		BaseEndpoint:     aws.String(e.hs.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testAccessKey, testSecret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
	})
}

var mrkIDRE = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)

func newMRK(t *testing.T, c *awskms.Client, in *awskms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &awskms.CreateKeyInput{}
	}
	in.MultiRegion = aws.Bool(true)
	out, err := c.CreateKey(ctx(), in)
	check(t, err)
	return out.KeyMetadata
}

func describe(t *testing.T, c *awskms.Client, id string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
	check(t, err)
	return out.KeyMetadata
}

func replicate(t *testing.T, c *awskms.Client, id, region string) *awskms.ReplicateKeyOutput {
	t.Helper()
	out, err := c.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(region)})
	check(t, err)
	return out
}

// sameMaterial: the key id of both clients' regions encrypts with the same material.
func sameMaterial(t *testing.T, a, b *awskms.Client, id string) {
	t.Helper()
	if x, y := aws.ToString(describe(t, a, id).CurrentKeyMaterialId), aws.ToString(describe(t, b, id).CurrentKeyMaterialId); x != y {
		t.Fatalf("current key material: %s vs %s", x, y)
	}
}

// replicatedKey is a server with a multi-Region key in us-east-1 and its Enabled replica in
// us-west-2, and a client of each region.
func replicatedKey(t *testing.T) (e *testEnv, east, west *awskms.Client, id string) {
	t.Helper()
	e = newEnv(t, Config{})
	east, west = regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	id = aws.ToString(newMRK(t, east, nil).KeyId)
	replicate(t, east, id, "us-west-2")
	e.clock.Advance(defaultMultiRegionDelay)
	return e, east, west, id
}

func regionsOf(ks []types.MultiRegionKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, aws.ToString(k.Region))
	}
	slices.Sort(out)
	return out
}

// TestRegionsIsolateResources: keys, aliases and grants belong to their account and region; the
// same endpoint answers each region from its own records, and an unsigned request acts in
// Config.Region.
func TestRegionsIsolateResources(t *testing.T) {
	e := newEnv(t, Config{Region: "eu-west-1"})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")

	k, err := east.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	id, arn := aws.ToString(k.KeyMetadata.KeyId), aws.ToString(k.KeyMetadata.Arn)
	if !strings.HasPrefix(arn, "arn:aws:kms:us-east-1:") {
		t.Fatalf("ARN %s", arn)
	}
	for _, ref := range []string{id, arn} {
		_, err = west.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(ref)})
		wantErr(t, err, "NotFoundException")
	}
	_, err = west.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantErr(t, err, "NotFoundException")
	wk, err := west.ListKeys(ctx(), &awskms.ListKeysInput{})
	check(t, err)
	if len(wk.Keys) != 0 {
		t.Fatalf("us-west-2 lists %d keys", len(wk.Keys))
	}

	// The same alias name in two regions names two keys.
	k2, err := west.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = east.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String(id)})
	check(t, err)
	_, err = west.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: k2.KeyMetadata.KeyId})
	check(t, err)
	if got := aws.ToString(describe(t, west, "alias/app").Arn); got != aws.ToString(k2.KeyMetadata.Arn) {
		t.Fatalf("alias/app in us-west-2 names %s", got)
	}
	la, err := west.ListAliases(ctx(), &awskms.ListAliasesInput{})
	check(t, err)
	if len(la.Aliases) != 1 || !strings.Contains(aws.ToString(la.Aliases[0].AliasArn), ":us-west-2:") {
		t.Fatalf("us-west-2 aliases %+v", la.Aliases)
	}
	_, err = west.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/other"), TargetKeyId: aws.String(arn)})
	wantErr(t, err, "NotFoundException")

	// Grants too.
	g, err := east.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		RetiringPrincipal: aws.String("arn:aws:iam::111122223333:role/ops"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	check(t, err)
	_, err = west.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(id)})
	wantErr(t, err, "NotFoundException")
	rg, err := west.ListRetirableGrants(ctx(), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("arn:aws:iam::111122223333:role/ops")})
	check(t, err)
	if len(rg.Grants) != 0 {
		t.Fatalf("us-west-2 lists a grant of us-east-1: %+v", rg.Grants)
	}
	_, err = west.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: aws.String(id), GrantId: g.GrantId})
	wantErr(t, err, "NotFoundException")
	_, err = west.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: g.GrantToken})
	wantErr(t, err, "NotFoundException")

	// A request without a signature acts in Config.Region.
	req, _ := http.NewRequest(http.MethodPost, e.hs.URL, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "TrentService.CreateKey")
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	body := new(bytes.Buffer)
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), "arn:aws:kms:eu-west-1:") {
		t.Fatalf("unsigned CreateKey: %d %s", resp.StatusCode, body)
	}
}

// regionalDirectory answers only for the clusters of its region, as the CloudHSM control plane
// does (cloudhsm.Service.Cluster).
type regionalDirectory struct {
	*fakeDirectory
	region string
}

func (d regionalDirectory) Cluster(ctx context.Context, account, region, id string) (*cloudhsm.Cluster, error) {
	if region != d.region {
		return nil, cloudhsm.ErrClusterNotFound
	}
	return d.fakeDirectory.Cluster(ctx, account, region, id)
}

// TestCustomKeyStoresStayInTheirRegion: a custom key store is created in its cluster's region and
// only that region sees it.
func TestCustomKeyStoresStayInTheirRegion(t *testing.T) {
	ca, err := pki.NewCA("cluster-regionregionreg")
	check(t, err)
	hsms := []cloudhsm.ClusterHSM{{ID: "hsm-aaaaaaaaaaa", AZ: "us-west-2a", State: "ACTIVE", Addr: "127.0.0.1:1"},
		{ID: "hsm-bbbbbbbbbbb", AZ: "us-west-2b", State: "ACTIVE", Addr: "127.0.0.1:1"}}
	fd := &fakeDirectory{clusters: map[string]*cloudhsm.Cluster{}, tls: map[string][]byte{}}
	fd.set(&cloudhsm.Cluster{ID: testClusterID, State: "ACTIVE", TrustAnchorPEM: ca.CertPEM, HSMs: hsms}, ca.CertPEM)
	e := newEnv(t, Config{Clusters: regionalDirectory{fd, "us-west-2"}})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	in := &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("s"), CloudHsmClusterId: aws.String(testClusterID),
		TrustAnchorCertificate: aws.String(string(ca.CertPEM)), KeyStorePassword: aws.String(kmsUserPass)}
	_, err = east.CreateCustomKeyStore(ctx(), in)
	var cnf *types.CloudHsmClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Fatalf("a cluster of us-west-2 from us-east-1: %v", err)
	}
	out, err := west.CreateCustomKeyStore(ctx(), in)
	check(t, err)
	d, err := east.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{})
	check(t, err)
	if len(d.CustomKeyStores) != 0 {
		t.Fatalf("us-east-1 sees %d stores", len(d.CustomKeyStores))
	}
	_, err = east.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: out.CustomKeyStoreId})
	wantErr(t, err, "CustomKeyStoreNotFoundException")
	_, err = east.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: out.CustomKeyStoreId})
	wantErr(t, err, "CustomKeyStoreNotFoundException")
	// A multi-Region key cannot live in a custom key store (CreateKey's MultiRegion).
	_, err = west.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: out.CustomKeyStoreId, MultiRegion: aws.Bool(true)})
	wantErr(t, err, "UnsupportedOperationException")
}

// TestMultiRegionReplicate: a primary key, a replica in another region that shares its id and
// material and has its own policy, tags, description, aliases, grants and state, and the
// errors of ReplicateKey.
func TestMultiRegionReplicate(t *testing.T) {
	e := newEnv(t, Config{})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	p := newMRK(t, east, &awskms.CreateKeyInput{Description: aws.String("primary")})
	id := aws.ToString(p.KeyId)
	if !mrkIDRE.MatchString(id) || !aws.ToBool(p.MultiRegion) {
		t.Fatalf("multi-Region key id %s, MultiRegion %v", id, aws.ToBool(p.MultiRegion))
	}
	mc := p.MultiRegionConfiguration
	if mc == nil || mc.MultiRegionKeyType != types.MultiRegionKeyTypePrimary || aws.ToString(mc.PrimaryKey.Arn) != aws.ToString(p.Arn) ||
		aws.ToString(mc.PrimaryKey.Region) != "us-east-1" || len(mc.ReplicaKeys) != 0 {
		t.Fatalf("primary's configuration %+v", mc)
	}
	enc, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("across regions"),
		EncryptionContext: map[string]string{"app": "x"}})
	check(t, err)
	// A single-Region key says so.
	single, err := east.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	if single.KeyMetadata.MultiRegionConfiguration != nil || aws.ToBool(single.KeyMetadata.MultiRegion) {
		t.Fatal("a single-Region key shows a multi-Region configuration")
	}

	out, err := east.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("us-west-2"),
		Description: aws.String("replica"), Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("west")}}})
	check(t, err)
	r := out.ReplicaKeyMetadata
	if aws.ToString(r.KeyId) != id || aws.ToString(r.Arn) != "arn:aws:kms:us-west-2:111122223333:key/"+id || r.KeyState != types.KeyStateCreating ||
		aws.ToString(r.Description) != "replica" || r.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica {
		t.Fatalf("replica %+v", r)
	}
	if aws.ToString(out.ReplicaPolicy) == "" || len(out.ReplicaTags) != 1 {
		t.Fatalf("ReplicaPolicy %q, ReplicaTags %+v", aws.ToString(out.ReplicaPolicy), out.ReplicaTags)
	}
	// Creating: manageable, not usable.
	_, err = west.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "x"}})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = west.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: aws.String(id), Description: aws.String("replica, west")})
	check(t, err)
	e.clock.Advance(defaultMultiRegionDelay)
	rm := describe(t, west, id)
	if rm.KeyState != types.KeyStateEnabled || aws.ToString(rm.Description) != "replica, west" {
		t.Fatalf("replica after creation: %s %q", rm.KeyState, aws.ToString(rm.Description))
	}
	if aws.ToString(describe(t, east, id).Description) != "primary" {
		t.Fatal("the replica's description changed the primary's")
	}
	for _, m := range []*types.KeyMetadata{describe(t, east, id), rm} {
		c := m.MultiRegionConfiguration
		if aws.ToString(c.PrimaryKey.Region) != "us-east-1" || !slices.Equal(regionsOf(c.ReplicaKeys), []string{"us-west-2"}) {
			t.Fatalf("%s: configuration %+v", aws.ToString(m.Arn), c)
		}
	}

	// Ciphertexts of one region decrypt in the other, and back.
	dec, err := west.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"app": "x"}})
	check(t, err)
	if string(dec.Plaintext) != "across regions" || aws.ToString(dec.KeyId) != aws.ToString(rm.Arn) {
		t.Fatalf("decrypted in us-west-2: %q by %s", dec.Plaintext, aws.ToString(dec.KeyId))
	}
	enc2, err := west.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("back")})
	check(t, err)
	dec, err = east.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc2.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "back" {
		t.Fatal("a us-west-2 ciphertext does not decrypt in us-east-1")
	}

	// Independent properties: tags, aliases, grants, enabled state, policy.
	tags, err := east.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(tags.Tags) != 0 {
		t.Fatalf("the replica's tags reached the primary: %+v", tags.Tags)
	}
	_, err = west.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/west-only"), TargetKeyId: aws.String(id)})
	check(t, err)
	_, err = east.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/west-only")})
	wantErr(t, err, "NotFoundException")
	_, err = west.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	check(t, err)
	lg, err := east.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(lg.Grants) != 0 {
		t.Fatalf("the replica's grant shows on the primary: %+v", lg.Grants)
	}
	lg, err = west.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(lg.Grants) != 1 || aws.ToString(lg.Grants[0].KeyId) != aws.ToString(rm.Arn) {
		t.Fatalf("replica's grants %+v", lg.Grants)
	}
	_, err = west.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	if describe(t, east, id).KeyState != types.KeyStateEnabled {
		t.Fatal("disabling the replica disabled the primary")
	}
	_, err = east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	check(t, err)
	_, err = west.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})
	check(t, err)

	// ReplicateKey's errors.
	rep := func(c *awskms.Client, key, region string) error {
		_, err := c.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(key), ReplicaRegion: aws.String(region)})
		return err
	}
	wantErr(t, rep(east, id, "us-west-2"), "AlreadyExistsException")
	wantErr(t, rep(east, id, "us-east-1"), "ValidationException")
	wantErr(t, rep(east, aws.ToString(single.KeyMetadata.KeyId), "us-west-2"), "UnsupportedOperationException")
	wantErr(t, rep(west, id, "eu-west-1"), "UnsupportedOperationException") // a replica is not replicated
	wantErr(t, rep(east, id, "xx-nowhere-1"), "UnsupportedOperationException")
	wantErr(t, rep(east, id, "cn-north-1"), "UnsupportedOperationException") // another partition
	wantErr(t, rep(east, id, "US_EAST_1"), "ValidationException")            // the model's pattern
	wantErr(t, rep(east, "mrk-00000000000000000000000000000000", "eu-west-1"), "NotFoundException")
	_, err = east.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	wantErr(t, rep(east, id, "eu-west-1"), "DisabledException")
	_, err = east.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	// A second replica: every key of the set lists both.
	replicate(t, east, id, "eu-west-1")
	e.clock.Advance(defaultMultiRegionDelay)
	for _, c := range []*awskms.Client{east, west, regionClient(e, "eu-west-1")} {
		if got := regionsOf(describe(t, c, id).MultiRegionConfiguration.ReplicaKeys); !slices.Equal(got, []string{"eu-west-1", "us-west-2"}) {
			t.Fatalf("replica regions %v", got)
		}
	}
}

// TestMultiRegionKeySpecs: HMAC and asymmetric multi-Region keys share their material too.
func TestMultiRegionKeySpecs(t *testing.T) {
	e := newEnv(t, Config{})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")

	h := newMRK(t, east, &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	hid := aws.ToString(h.KeyId)
	replicate(t, east, hid, "us-west-2")
	e.clock.Advance(defaultMultiRegionDelay)
	mac, err := east.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: aws.String(hid), MacAlgorithm: types.MacAlgorithmSpecHmacSha256, Message: []byte("m")})
	check(t, err)
	v, err := west.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: aws.String(hid), MacAlgorithm: types.MacAlgorithmSpecHmacSha256, Message: []byte("m"), Mac: mac.Mac})
	check(t, err)
	if !v.MacValid {
		t.Fatal("a us-east-1 MAC does not verify in us-west-2")
	}

	s := newMRK(t, east, &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	sid := aws.ToString(s.KeyId)
	replicate(t, east, sid, "us-west-2")
	e.clock.Advance(defaultMultiRegionDelay)
	pe, err := east.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: aws.String(sid)})
	check(t, err)
	pw, err := west.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: aws.String(sid)})
	check(t, err)
	if !bytes.Equal(pe.PublicKey, pw.PublicKey) {
		t.Fatal("the replica's public key differs from the primary's")
	}
	sig, err := west.Sign(ctx(), &awskms.SignInput{KeyId: aws.String(sid), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(t, err)
	vr, err := east.Verify(ctx(), &awskms.VerifyInput{KeyId: aws.String(sid), Message: []byte("m"), Signature: sig.Signature,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(t, err)
	if !vr.SignatureValid {
		t.Fatal("a us-west-2 signature does not verify in us-east-1")
	}
}

// TestMultiRegionRotation: rotation is a shared property set on the primary key; new material
// reaches every replica, and every version stays shared.
func TestMultiRegionRotation(t *testing.T) {
	e := newEnv(t, Config{})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	id := aws.ToString(newMRK(t, east, nil).KeyId)
	old, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("v1")})
	check(t, err)
	replicate(t, east, id, "us-west-2")
	e.clock.Advance(defaultMultiRegionDelay)

	_, err = west.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(id)})
	wantErr(t, err, "UnsupportedOperationException")
	_, err = west.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	wantErr(t, err, "UnsupportedOperationException")
	_, err = east.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(id), RotationPeriodInDays: aws.Int32(90)})
	check(t, err)
	st, err := west.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(id)})
	check(t, err)
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 {
		t.Fatalf("replica's rotation status %+v", st)
	}

	_, err = east.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	check(t, err)
	sameMaterial(t, east, west, id)
	lr, err := west.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(lr.Rotations) != 1 || lr.Rotations[0].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("replica's rotations %+v", lr.Rotations)
	}
	nw, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("v2")})
	check(t, err)
	for _, blob := range [][]byte{old.CiphertextBlob, nw.CiphertextBlob} {
		_, err := west.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: blob})
		check(t, err)
	}

	// Automatic rotation happens on the primary and reaches the replica.
	e.clock.Advance(91 * 24 * time.Hour)
	e.srv.sweep(ctx())
	lr, err = west.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(lr.Rotations) != 2 || lr.Rotations[1].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("replica's rotations after the automatic one %+v", lr.Rotations)
	}
	sameMaterial(t, east, west, id)
}

// TestUpdatePrimaryRegion: the replica becomes the primary and the primary a replica, both
// Updating for a moment, usable but not enabled or disabled meanwhile.
func TestUpdatePrimaryRegion(t *testing.T) {
	e := newEnv(t, Config{})
	east, west := regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	id := aws.ToString(newMRK(t, east, nil).KeyId)
	single, err := east.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	upr := func(c *awskms.Client, key, region string) error {
		_, err := c.UpdatePrimaryRegion(ctx(), &awskms.UpdatePrimaryRegionInput{KeyId: aws.String(key), PrimaryRegion: aws.String(region)})
		return err
	}
	wantErr(t, upr(east, aws.ToString(single.KeyMetadata.KeyId), "us-west-2"), "UnsupportedOperationException")
	wantErr(t, upr(east, id, "us-west-2"), "NotFoundException") // no replica there yet
	replicate(t, east, id, "us-west-2")
	wantErr(t, upr(east, id, "us-west-2"), "KMSInvalidStateException") // the replica is Creating
	e.clock.Advance(defaultMultiRegionDelay)
	wantErr(t, upr(east, id, "us-east-1"), "ValidationException")
	wantErr(t, upr(west, id, "us-east-1"), "UnsupportedOperationException") // not called on the primary
	_, err = west.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	wantErr(t, upr(east, id, "us-west-2"), "DisabledException")
	_, err = west.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})
	check(t, err)

	check(t, upr(east, id, "us-west-2"))
	pm, rm := describe(t, east, id), describe(t, west, id)
	if pm.KeyState != types.KeyStateUpdating || rm.KeyState != types.KeyStateUpdating {
		t.Fatalf("during the update: %s, %s", pm.KeyState, rm.KeyState)
	}
	_, err = east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	check(t, err)
	_, err = west.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	wantErr(t, err, "KMSInvalidStateException")
	wantErr(t, upr(west, id, "us-east-1"), "KMSInvalidStateException")
	e.clock.Advance(defaultMultiRegionDelay)
	pm, rm = describe(t, east, id), describe(t, west, id)
	if pm.KeyState != types.KeyStateEnabled || rm.KeyState != types.KeyStateEnabled {
		t.Fatalf("after the update: %s, %s", pm.KeyState, rm.KeyState)
	}
	if pm.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica ||
		rm.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypePrimary ||
		aws.ToString(pm.MultiRegionConfiguration.PrimaryKey.Region) != "us-west-2" ||
		!slices.Equal(regionsOf(rm.MultiRegionConfiguration.ReplicaKeys), []string{"us-east-1"}) {
		t.Fatalf("configurations after the update: %+v / %+v", pm.MultiRegionConfiguration, rm.MultiRegionConfiguration)
	}
	// The new primary replicates and rotates; the old one no longer does.
	replicate(t, west, id, "eu-west-1")
	_, err = east.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("eu-central-1")})
	wantErr(t, err, "UnsupportedOperationException")
	_, err = west.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	check(t, err)
	sameMaterial(t, east, west, id) // the new primary's rotation reached the old primary
}

// TestMultiRegionDeletion: a primary key with replicas waits in PendingReplicaDeletion until the
// last replica is deleted, then its own waiting period begins; replicas are deleted like any key.
func TestMultiRegionDeletion(t *testing.T) {
	e, east, west, id := replicatedKey(t)
	enc, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("kept")})
	check(t, err)

	sd, err := east.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	check(t, err)
	if sd.KeyState != types.KeyStatePendingReplicaDeletion || sd.DeletionDate != nil || aws.ToInt32(sd.PendingWindowInDays) != 7 {
		t.Fatalf("ScheduleKeyDeletion of a primary with a replica: %s %v %d", sd.KeyState, sd.DeletionDate, aws.ToInt32(sd.PendingWindowInDays))
	}
	pm := describe(t, east, id)
	if pm.KeyState != types.KeyStatePendingReplicaDeletion || pm.DeletionDate != nil || aws.ToInt32(pm.PendingDeletionWindowInDays) != 7 {
		t.Fatalf("primary pending replica deletion: %s %v %d", pm.KeyState, pm.DeletionDate, aws.ToInt32(pm.PendingDeletionWindowInDays))
	}
	_, err = east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = east.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("eu-west-1")})
	wantErr(t, err, "KMSInvalidStateException")
	// The replica still works, and waits forever does not apply to it.
	_, err = west.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	e.clock.Advance(30 * 24 * time.Hour)
	e.srv.sweep(ctx())
	if describe(t, east, id).KeyState != types.KeyStatePendingReplicaDeletion {
		t.Fatal("the primary left PendingReplicaDeletion while its replica exists")
	}

	// Cancel and schedule again: cancel leaves it Disabled.
	_, err = east.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	check(t, err)
	if describe(t, east, id).KeyState != types.KeyStateDisabled {
		t.Fatal("canceled deletion is not Disabled")
	}
	_, err = east.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	check(t, err)

	rs, err := west.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	check(t, err)
	if rs.KeyState != types.KeyStatePendingDeletion || rs.DeletionDate == nil {
		t.Fatalf("replica deletion: %s %v", rs.KeyState, rs.DeletionDate)
	}
	// A replica pending deletion still occupies its region.
	_, err = east.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(id)})
	check(t, err)
	_, err = east.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	_, err = east.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("us-west-2")})
	wantErr(t, err, "AlreadyExistsException")
	_, err = east.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})
	check(t, err)

	e.clock.Advance(8 * 24 * time.Hour)
	e.srv.sweep(ctx())
	_, err = west.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
	wantErr(t, err, "NotFoundException")
	pm = describe(t, east, id)
	want := e.clock.Now().Add(7 * 24 * time.Hour)
	if pm.KeyState != types.KeyStatePendingDeletion || pm.DeletionDate == nil || pm.DeletionDate.Sub(want).Abs() > time.Second ||
		len(pm.MultiRegionConfiguration.ReplicaKeys) != 0 {
		t.Fatalf("primary after its last replica: %s %v (want %v) %+v", pm.KeyState, pm.DeletionDate, want, pm.MultiRegionConfiguration)
	}
	e.clock.Advance(8 * 24 * time.Hour)
	e.srv.sweep(ctx())
	_, err = east.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
	wantErr(t, err, "NotFoundException")
}

// TestMultiRegionPersistence: keys, replicas, their states, aliases and grants survive a
// restart; a database written before keys were stored per region still loads.
func TestMultiRegionPersistence(t *testing.T) {
	e, east, west, id := replicatedKey(t)
	_, err := west.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/r"), TargetKeyId: aws.String(id)})
	check(t, err)
	_, err = west.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(id), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	check(t, err)
	_, err = east.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)})
	check(t, err)
	enc, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("p")})
	check(t, err)
	replicate(t, east, id, "eu-west-1")

	e.restart()
	east, west = regionClient(e, "us-east-1"), regionClient(e, "us-west-2")
	if describe(t, regionClient(e, "eu-west-1"), id).KeyState != types.KeyStateCreating {
		t.Fatal("a replica's Creating state did not survive a restart")
	}
	e.clock.Advance(defaultMultiRegionDelay)
	rm := describe(t, west, "alias/r")
	if rm.KeyState != types.KeyStateEnabled || rm.MultiRegionConfiguration.MultiRegionKeyType != types.MultiRegionKeyTypeReplica ||
		aws.ToString(rm.CurrentKeyMaterialId) != aws.ToString(describe(t, east, id).CurrentKeyMaterialId) {
		t.Fatalf("replica after restart %+v", rm)
	}
	lg, err := west.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(id)})
	check(t, err)
	if len(lg.Grants) != 1 {
		t.Fatalf("replica's grants after restart: %+v", lg.Grants)
	}
	dec, err := west.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "p" {
		t.Fatal("decrypt after restart")
	}

	// An older database: single-Region keys stored under their bare id, grants without region.
	single, err := east.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	sid := aws.ToString(single.KeyMetadata.KeyId)
	g, err := east.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(sid), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	check(t, err)
	senc, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(sid), Plaintext: []byte("old")})
	check(t, err)
	e.close()
	b, err := bolt.Open(e.dir+"/kms.db", 0o600, nil)
	check(t, err)
	check(t, b.Update(func(tx *bolt.Tx) error {
		kb, gb := tx.Bucket(record.BucketKeys), tx.Bucket(record.BucketGrants)
		ref := []byte("111122223333/us-east-1/" + sid)
		v := kb.Get(ref)
		if v == nil {
			return errors.New("no key record under " + string(ref))
		}
		if err := kb.Put([]byte(sid), v); err != nil {
			return err
		}
		if err := kb.Delete(ref); err != nil {
			return err
		}
		gv := gb.Get([]byte(aws.ToString(g.GrantId)))
		gv = regexp.MustCompile(`,"account":"[^"]*","region":"[^"]*"`).ReplaceAll(gv, nil)
		if bytes.Contains(gv, []byte(`"region"`)) {
			return errors.New("grant record still names its region: " + string(gv))
		}
		return gb.Put([]byte(aws.ToString(g.GrantId)), gv)
	}))
	check(t, b.Close())
	e.open()
	east = regionClient(e, "us-east-1")
	dec, err = east.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: senc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "old" {
		t.Fatal("decrypt with a key of an older database")
	}
	lg, err = east.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(sid)})
	check(t, err)
	if len(lg.Grants) != 1 || aws.ToString(lg.Grants[0].GrantId) != aws.ToString(g.GrantId) {
		t.Fatalf("grants of a key of an older database: %+v", lg.Grants)
	}
	_, err = east.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(sid), PendingWindowInDays: aws.Int32(7)})
	check(t, err)
	e.restart()
	if describe(t, regionClient(e, "us-east-1"), sid).KeyState != types.KeyStatePendingDeletion {
		t.Fatal("a migrated key's change did not survive a restart")
	}
}

// TestMultiRegionAuthorization: ReplicateKey takes kms:ReplicateKey on the primary and
// kms:CreateKey (kms:TagResource for tags) from identity policies; UpdatePrimaryRegion takes
// kms:UpdatePrimaryRegion on both keys; the kms:ReplicaRegion and kms:MultiRegion condition keys
// are set. (ReplicateKey and UpdatePrimaryRegion, "Required permissions"; conditions-kms.html)
func TestMultiRegionAuthorization(t *testing.T) {
	e := newEnv(t, Config{})
	id := aws.ToString(newMRK(t, e.kms, nil).KeyId)
	replicateOnly := `{"Effect":"Allow","Action":["kms:ReplicateKey","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:ReplicaRegion":"eu-west-1"},"Bool":{"kms:MultiRegion":"true"}}}`
	u := e.newUser("ops", identityDoc(replicateOnly))
	rep := func(region string, tags ...types.Tag) error {
		_, err := u.kms.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String(region), Tags: tags})
		return err
	}
	wantErr(t, rep("us-west-2"), "AccessDeniedException") // kms:ReplicaRegion does not match
	err := rep("eu-west-1")
	wantErr(t, err, "AccessDeniedException")
	if !strings.Contains(err.Error(), "kms:CreateKey") {
		t.Fatalf("denial without kms:CreateKey: %v", err)
	}
	u = e.newUser("ops2", identityDoc(replicateOnly, `{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*"}`))
	err = rep("eu-west-1", types.Tag{TagKey: aws.String("a"), TagValue: aws.String("b")})
	if err == nil || !strings.Contains(err.Error(), "kms:TagResource") {
		t.Fatalf("tags without kms:TagResource: %v", err)
	}
	check(t, rep("eu-west-1"))

	// UpdatePrimaryRegion: the replica's own policy is asked too.
	e.clock.Advance(defaultMultiRegionDelay)
	upr := `{"Effect":"Allow","Action":"kms:UpdatePrimaryRegion","Resource":"*"}`
	deny := `{"Sid":"no","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/ops3"},"Action":"kms:UpdatePrimaryRegion","Resource":"*"}`
	u = e.newUser("ops3", identityDoc(upr))
	_, err = e.kms.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: aws.String(id), ReplicaRegion: aws.String("us-west-2"), Policy: aws.String(keyPolicy(deny))})
	check(t, err)
	e.clock.Advance(defaultMultiRegionDelay)
	_, err = u.kms.UpdatePrimaryRegion(ctx(), &awskms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String("us-west-2")})
	wantErr(t, err, "AccessDeniedException")
	if !strings.Contains(err.Error(), ":us-west-2:") {
		t.Fatalf("the denial names the replica: %v", err)
	}
	_, err = u.kms.UpdatePrimaryRegion(ctx(), &awskms.UpdatePrimaryRegionInput{KeyId: aws.String(id), PrimaryRegion: aws.String("eu-west-1")})
	check(t, err)
}

// TestReplicaRotatesOnlyWithItsPrimary: a replica shares its primary's rotation settings but never
// rotates by itself (only the primary key rotates; "Rotating multi-Region keys",
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-update.html and
// rotate-keys.html#multi-region-rotate), not even when it is enabled again after the rotation date
// passed while it was disabled — that would give the set two different current materials.
func TestReplicaRotatesOnlyWithItsPrimary(t *testing.T) {
	e, east, west, id := replicatedKey(t)
	_, err := east.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(id), RotationPeriodInDays: aws.Int32(90)})
	check(t, err)
	_, err = west.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	_, err = east.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	e.clock.Advance(91 * 24 * time.Hour)
	_, err = west.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})
	check(t, err)
	current := func(c *awskms.Client) string {
		d, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
		check(t, err)
		return aws.ToString(d.KeyMetadata.CurrentKeyMaterialId)
	}
	if w, p := current(west), current(east); w != p {
		t.Fatalf("re-enabling the replica rotated it alone: replica material %s, primary %s", w, p)
	}
}

// TestReplicaTracksItsOwnLastUsage: "For multi-Region KMS keys, primary and replica keys track
// last usage independently" (GetKeyLastUsage, KMS API Reference).
func TestReplicaTracksItsOwnLastUsage(t *testing.T) {
	_, east, west, id := replicatedKey(t)
	_, err := east.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("p")})
	check(t, err)
	pu, err := east.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String(id)})
	check(t, err)
	if pu.KeyLastUsage == nil {
		t.Fatal("the primary's Encrypt was not recorded")
	}
	ru, err := west.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String(id)})
	check(t, err)
	if ru.KeyLastUsage != nil {
		t.Fatalf("the replica reports the primary's use: %+v", ru.KeyLastUsage)
	}
}
