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

func TestCutShortResponsesRetried(t *testing.T) {
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}
	for name, call := range map[string]func(*dynamodb.Client) error{
		"GetItem": func(db *dynamodb.Client) error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("t"), Key: key})
			return err
		},
		"PutItem": func(db *dynamodb.Client) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("t"), Item: key})
			return err
		},
	} {
		srv, calls := cuttingServer(t)
		cfg, err := EmulatorConfig(ctx, srv.URL, "us-east-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := call(dynamodb.NewFromConfig(cfg)); err != nil {
			t.Errorf("%s after a cut-short response: %v", name, err)
		}
		if n := calls.Load(); n != 2 {
			t.Errorf("%s sent %d times, want 2", name, n)
		}
	}
}
