//go:build !unix

package filter

import "time"

// cpuTime is not measured here; benchmarks then omit per-CPU-second figures.
func cpuTime() time.Duration { return 0 }
