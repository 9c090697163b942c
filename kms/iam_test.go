package kms

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Clients of IAM and STS on the test server, and helpers that make identities through them.

func iamClient(url, ak, secret, token string) *awsiam.Client {
	return awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(ak, secret, token), RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func stsClient(url, ak, secret, token string) *sts.Client {
	return sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(ak, secret, token), RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func kmsAs(url, ak, secret, token string) *awskms.Client {
	return awskms.New(awskms.Options{Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(ak, secret, token), RetryMaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}})
}

func (e *testEnv) iam() *awsiam.Client { return iamClient(e.hs.URL, testAccessKey, testSecret, "") }
func (e *testEnv) sts() *sts.Client    { return stsClient(e.hs.URL, testAccessKey, testSecret, "") }

// identity is an IAM user's (or a session's) credentials and its clients.
type identity struct {
	arn               string
	ak, secret, token string
	kms               *awskms.Client
	sts               *sts.Client
	iam               *awsiam.Client
}

func (e *testEnv) as(arn, ak, secret, token string) *identity {
	return &identity{arn: arn, ak: ak, secret: secret, token: token, kms: kmsAs(e.hs.URL, ak, secret, token),
		sts: stsClient(e.hs.URL, ak, secret, token), iam: iamClient(e.hs.URL, ak, secret, token)}
}

// newUser creates user name with an access key and the given inline policies (name → document).
func (e *testEnv) newUser(name string, policies map[string]string) *identity {
	e.t.Helper()
	u, err := e.iam().CreateUser(ctx(), &awsiam.CreateUserInput{UserName: aws.String(name)})
	check(e.t, err)
	k, err := e.iam().CreateAccessKey(ctx(), &awsiam.CreateAccessKeyInput{UserName: aws.String(name)})
	check(e.t, err)
	for pn, doc := range policies {
		_, err := e.iam().PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(pn), PolicyDocument: aws.String(doc)})
		check(e.t, err)
	}
	return e.as(aws.ToString(u.User.Arn), aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), "")
}

func TestIAMUsersAccessKeysAndPolicies(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.iam()
	u, err := c.CreateUser(ctx(), &awsiam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/team/"),
		Tags: []iamtypes.Tag{{Key: aws.String("tenant"), Value: aws.String("42")}}})
	check(t, err)
	if got := aws.ToString(u.User.Arn); got != "arn:aws:iam::111122223333:user/team/alice" {
		t.Fatalf("user ARN %s", got)
	}
	if !strings.HasPrefix(aws.ToString(u.User.UserId), "AIDA") || u.User.CreateDate == nil {
		t.Fatalf("user %+v", u.User)
	}
	_, err = c.CreateUser(ctx(), &awsiam.CreateUserInput{UserName: aws.String("ALICE")})
	wantErr(t, err, "EntityAlreadyExists")
	_, err = c.GetUser(ctx(), &awsiam.GetUserInput{UserName: aws.String("bob")})
	wantErr(t, err, "NoSuchEntity")
	_, err = c.CreateUser(ctx(), &awsiam.CreateUserInput{UserName: aws.String("bad name")})
	wantErr(t, err, "ValidationError")
	got, err := c.GetUser(ctx(), &awsiam.GetUserInput{UserName: aws.String("alice")})
	check(t, err)
	if aws.ToString(got.User.Path) != "/team/" || len(got.User.Tags) != 1 {
		t.Fatalf("GetUser %+v", got.User)
	}
	_, err = c.TagUser(ctx(), &awsiam.TagUserInput{UserName: aws.String("alice"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("red")}}})
	check(t, err)
	lu, err := c.ListUsers(ctx(), &awsiam.ListUsersInput{})
	check(t, err)
	if len(lu.Users) != 1 || len(lu.Users[0].Tags) != 2 {
		t.Fatalf("ListUsers %+v", lu.Users)
	}

	k, err := c.CreateAccessKey(ctx(), &awsiam.CreateAccessKeyInput{UserName: aws.String("alice")})
	check(t, err)
	if !strings.HasPrefix(aws.ToString(k.AccessKey.AccessKeyId), "AKIA") || len(aws.ToString(k.AccessKey.SecretAccessKey)) != 40 {
		t.Fatalf("access key %+v", k.AccessKey)
	}
	lk, err := c.ListAccessKeys(ctx(), &awsiam.ListAccessKeysInput{UserName: aws.String("alice")})
	check(t, err)
	if len(lk.AccessKeyMetadata) != 1 || aws.ToString(lk.AccessKeyMetadata[0].AccessKeyId) != aws.ToString(k.AccessKey.AccessKeyId) {
		t.Fatalf("ListAccessKeys %+v", lk.AccessKeyMetadata)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	_, err = c.PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p"), PolicyDocument: aws.String(doc)})
	check(t, err)
	gp, err := c.GetUserPolicy(ctx(), &awsiam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p")})
	check(t, err)
	if dec, _ := url.QueryUnescape(aws.ToString(gp.PolicyDocument)); dec != doc {
		t.Fatalf("GetUserPolicy %q", aws.ToString(gp.PolicyDocument))
	}
	for _, bad := range []string{`{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Principal":"*"}]}`, `not json`,
		`{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEqualz":{"a:b":"c"}}}]}`} {
		_, err = c.PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"), PolicyDocument: aws.String(bad)})
		wantErr(t, err, "MalformedPolicyDocument")
	}
	big := `{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/` + strings.Repeat("a", 2100) + `"}]}`
	_, err = c.PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("big"), PolicyDocument: aws.String(big)})
	wantErr(t, err, "LimitExceeded")

	// The caller is who signed, and survives a restart.
	alice := e.as(aws.ToString(u.User.Arn), aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey), "")
	e.restart()
	alice = e.as(alice.arn, alice.ak, alice.secret, "")
	id, err := alice.sts.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	check(t, err)
	if aws.ToString(id.Arn) != alice.arn || aws.ToString(id.Account) != "111122223333" || aws.ToString(id.UserId) != aws.ToString(u.User.UserId) {
		t.Fatalf("GetCallerIdentity %+v", id)
	}
	root, err := e.sts().GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	check(t, err)
	if aws.ToString(root.Arn) != "arn:aws:iam::111122223333:root" {
		t.Fatalf("admin is %s", aws.ToString(root.Arn))
	}
	// A user without IAM permissions may not manage users.
	_, err = alice.iam.CreateUser(ctx(), &awsiam.CreateUserInput{UserName: aws.String("mallory")})
	wantErr(t, err, "AccessDenied")

	c = e.iam()
	_, err = c.DeleteUser(ctx(), &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	wantErr(t, err, "DeleteConflict")
	_, err = c.DeleteUserPolicy(ctx(), &awsiam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("p")})
	check(t, err)
	_, err = c.DeleteAccessKey(ctx(), &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKey.AccessKeyId})
	check(t, err)
	_, err = c.DeleteAccessKey(ctx(), &awsiam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: k.AccessKey.AccessKeyId})
	wantErr(t, err, "NoSuchEntity")
	_, err = c.DeleteUser(ctx(), &awsiam.DeleteUserInput{UserName: aws.String("alice")})
	check(t, err)
	// Its key is gone: without strict mode an unknown key acts as the administrator again.
	id, err = alice.sts.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	check(t, err)
	if aws.ToString(id.Arn) != "arn:aws:iam::111122223333:root" {
		t.Fatalf("deleted user's key is %s", aws.ToString(id.Arn))
	}
}

// TestQueryRouting: a form-encoded POST without X-Amz-Target is a Query request, served by the
// service its credential scope names or, unsigned, by the one whose Version it gives.
func TestQueryRouting(t *testing.T) {
	e := newEnv(t, Config{})
	post := func(body string) (int, string) {
		resp, err := http.Post(e.hs.URL, "application/x-www-form-urlencoded; charset=utf-8", strings.NewReader(body))
		check(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	st, body := post("Action=GetCallerIdentity&Version=2011-06-15")
	if st != 200 || !strings.Contains(body, "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:root</Arn>") {
		t.Fatalf("%d %s", st, body)
	}
	st, body = post("Action=ListUsers&Version=2010-05-08")
	if st != 200 || !strings.Contains(body, "<ListUsersResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ListUsersResult><Users></Users><IsTruncated>false</IsTruncated>") {
		t.Fatalf("%d %s", st, body)
	}
	st, body = post("Action=Frobnicate&Version=2010-05-08")
	if st != 400 || !strings.Contains(body, "<Error><Type>Sender</Type><Code>InvalidAction</Code>") {
		t.Fatalf("%d %s", st, body)
	}
	st, body = post("Action=GetUser&Version=2010-05-08&UserName=nobody")
	if st != 404 || !strings.Contains(body, "<Code>NoSuchEntity</Code><Message>The user with name nobody cannot be found.</Message>") {
		t.Fatalf("%d %s", st, body)
	}
}
