package provision_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/moatmail/moat/shared/awstest"
	"github.com/moatmail/moat/shared/provision"
	"github.com/moatmail/moat/shared/schema"
)

func TestStackQueuesHaveDeadLetters(t *testing.T) {
	cfg := awstest.Config(t)
	suffix := strings.TrimPrefix(awstest.Name(t, "p"), "p-")
	r, err := provision.Stack(context.Background(), cfg, suffix)
	if err != nil {
		t.Fatal(err)
	}
	if r.Bucket != "mail-"+suffix {
		t.Errorf("bucket %q", r.Bucket)
	}
	env := r.Env()
	q := sqs.NewFromConfig(cfg)
	for _, qu := range schema.AllQueues {
		if env[qu.EnvVar] == "" || env[provision.DLQKey(qu)] == "" {
			t.Fatalf("%s: env lacks the queue or its dead-letter queue: %v", qu.ID, env)
		}
		out, err := q.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(env[qu.EnvVar]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy},
		})
		if err != nil {
			t.Fatal(err)
		}
		if rp := out.Attributes[string(sqstypes.QueueAttributeNameRedrivePolicy)]; !strings.Contains(rp, qu.ID+"-dlq-"+suffix) {
			t.Errorf("%s redrive policy %q does not name its dead-letter queue", qu.ID, rp)
		}
	}
}
