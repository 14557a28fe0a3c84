package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/quarantine/admin/admintest"
	"github.com/moatmail/moat/shared/schema"
	"github.com/moatmail/moat/shared/verdict"
)

// TestReleaseTrainsTenantModel: releasing spam held for a tenant's recipient stores the ham
// sample under the tenant's prefix (the stack's OUTBOUND_TENANTS tells the domains).
func TestReleaseTrainsTenantModel(t *testing.T) {
	cfg := awstest.Config(t)
	r := awstest.Stack(t, cfg)
	env := r.Env()
	env[TenantsEnvVar] = testTenants
	dir := t.TempDir()
	b, _ := json.Marshal(localStack{Endpoint: os.Getenv("AWS_ENDPOINT_URL"), Region: awstest.Region, Env: env})
	if err := os.WriteFile(filepath.Join(dir, LocalFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	old := global
	global.Local, global.Dir = true, dir
	t.Cleanup(func() { global = old })

	e := admintest.Over(cfg, r)
	e.Quarantine(t, admintest.Item{ID: "q1", Recipients: []string{"carol@beta.example"}, Sender: "bulk@spam.example",
		From: "offers@spam.example", Subject: "Cheap watches", Reasons: []verdict.Code{verdict.Spam}, Time: time.Now().UTC().Add(-time.Hour)})
	expect(t, 0, []string{"released"}, "quarantine", "release", "--by", "ops", "q1")
	out, err := awstest.S3(cfg).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(env[schema.BucketEnvVar]), Prefix: aws.String("submissions/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 1 || !strings.HasPrefix(aws.ToString(out.Contents[0].Key), "submissions/tenants/beta/ham/") {
		var keys []string
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		t.Errorf("samples %q, want one under submissions/tenants/beta/ham/", keys)
	}
}
