// Package awstest connects integration tests to the AWS emulator (moto) that `make test`
// starts, and creates the resources of shared/schema in it under names unique to the test
// (with shared/provision, as the local stack does).
// Tests that use it skip, with a message, when AWS_ENDPOINT_URL is not set.
package awstest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ses"

	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/schema"
)

// Region is the region every test uses.
const Region = "us-east-1"

// Config returns an AWS configuration pointed at the emulator, or skips the test when
// AWS_ENDPOINT_URL is unset. See provision.EmulatorConfig for its retries.
func Config(t testing.TB) aws.Config {
	t.Helper()
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		t.Skip("integration test: AWS_ENDPOINT_URL is not set (run `make test`, which starts moto)")
	}
	cfg, err := provision.EmulatorConfig(context.Background(), endpoint, Region)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return cfg
}

var seq atomic.Int64

// Name returns a resource name unique to this test run, usable for tables, queues and buckets.
func Name(t testing.TB, base string) string {
	t.Helper()
	n := fmt.Sprintf("%s-%d-%d", base, time.Now().UnixNano()%1e9, seq.Add(1))
	return strings.ToLower(n)
}

// S3 returns an S3 client with path-style addressing, as moto needs.
func S3(cfg aws.Config) *s3.Client { return provision.S3(cfg) }

// Resources are the physical names of one test's stack.
type Resources = provision.Resources

// Stack creates every resource of shared/schema under unique names and returns them.
func Stack(t testing.TB, cfg aws.Config) Resources {
	t.Helper()
	r, err := provision.Stack(context.Background(), cfg, strings.TrimPrefix(Name(t, "mail"), "mail-"))
	if err != nil {
		t.Fatalf("create test stack: %v", err)
	}
	return r
}

// CreateTable creates one table of the schema, on demand, with its indexes and TTL.
func CreateTable(ctx context.Context, db *dynamodb.Client, tb schema.Table, name string) error {
	return provision.Table(ctx, db, tb, name)
}

// VerifySender verifies an SES identity in the emulator so SendRawEmail accepts it.
func VerifySender(t testing.TB, cfg aws.Config, domain string) {
	t.Helper()
	if _, err := ses.NewFromConfig(cfg).VerifyDomainIdentity(context.Background(),
		&ses.VerifyDomainIdentityInput{Domain: aws.String(domain)}); err != nil {
		t.Fatalf("verify SES domain %s: %v", domain, err)
	}
}
