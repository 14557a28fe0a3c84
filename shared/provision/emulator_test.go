package provision

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A server that cuts its first response short, as moto does under load: DynamoDB's CRC32
// header for "{}", and no body.
func cuttingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", "2745614147") // crc32("{}")
		if n == 1 {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Crc32: 2745614147\r\nContent-Length: 2\r\n\r\n")
			buf.Flush()
			conn.Close() // the body never comes
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestReadsRetriedWritesNot(t *testing.T) {
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}

	srv, calls := cuttingServer(t)
	cfg, err := EmulatorConfig(ctx, srv.URL, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dynamodb.NewFromConfig(cfg).GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key}); err != nil {
		t.Fatalf("GetItem after a cut-short response: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("GetItem sent %d times, want 2", n)
	}

	srv, calls = cuttingServer(t)
	cfg, _ = EmulatorConfig(ctx, srv.URL, "us-east-1")
	_, err = dynamodb.NewFromConfig(cfg).PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key})
	if err == nil {
		t.Errorf("PutItem after a cut-short response: err %v, want the error (a write is not sent twice)", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("PutItem sent %d times, want 1", n)
	}
}
