// Package metrics writes CloudWatch metrics as Embedded Metric Format (EMF) log lines: a
// function prints them to stdout, CloudWatch Logs extracts the metrics, and no API call (and no
// IAM permission) is needed.
package metrics

import (
	"encoding/json"
	"io"
	"sort"
	"time"
)

// Namespace is the CloudWatch namespace of every Moat metric; the dashboard and alarms use it.
const Namespace = "Moat"

// Emit writes one EMF line with a single metric and its dimensions. Errors writing to w are
// ignored: metrics never fail mail processing.
func Emit(w io.Writer, t time.Time, name string, value float64, unit string, dims map[string]string) {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": t.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": [][]string{keys},
				"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
			}},
		},
		name: value,
	}
	for k, v := range dims {
		line[k] = v
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	_, _ = w.Write(append(b, '\n'))
}
