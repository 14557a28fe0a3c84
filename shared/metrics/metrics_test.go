package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestEmitIsValidEMF(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	Emit(&buf, now, "Messages", 3, "Count", map[string]string{"Action": "quarantine"})
	var got struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Messages float64
		Action   string
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v: %s", err, buf.String())
	}
	m := got.AWS.CloudWatchMetrics[0]
	if got.AWS.Timestamp != now.UnixMilli() || m.Namespace != Namespace || m.Metrics[0].Name != "Messages" ||
		m.Dimensions[0][0] != "Action" || got.Messages != 3 || got.Action != "quarantine" {
		t.Errorf("unexpected EMF line: %s", buf.String())
	}
}
