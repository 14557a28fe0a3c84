package awstest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/moatmail/moat/shared/schema"
)

func TestStackCreatesSchema(t *testing.T) {
	cfg := Config(t)
	r := Stack(t, cfg)
	db := dynamodb.NewFromConfig(cfg)
	for _, tb := range schema.AllTables {
		out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(r.Tables[tb.ID])})
		if err != nil {
			t.Fatalf("describe %s: %v", tb.ID, err)
		}
		if got := len(out.Table.GlobalSecondaryIndexes); got != len(tb.Indexes) {
			t.Errorf("%s: %d indexes, want %d", tb.ID, got, len(tb.Indexes))
		}
	}
	env := r.Env()
	for _, k := range []string{schema.BucketEnvVar, schema.Tracking.EnvVar, schema.Delivery.EnvVar, schema.Alerts.EnvVar} {
		if env[k] == "" {
			t.Errorf("env %s is empty", k)
		}
	}
}
