package audit

import (
	"io"

	"github.com/moatmail/moat/shared/metrics"
)

// Metric names of the audit, in the Moat namespace.
const (
	// MetricListed: targets listed in a zone, dimension Zone (zero too, so graphs are continuous).
	MetricListed = "AuditListed"
	// MetricZoneErrors: lookups in a zone that ended in an error, dimension Zone.
	MetricZoneErrors = "AuditZoneErrors"
	// MetricListedTargets: targets listed in their own right (single-IP or domain zones), no
	// dimension. The audit alarm watches it.
	MetricListedTargets = "AuditListedTargets"
	// MetricNetworkListings: listings of the networks around the targets (UCEPROTECT 2 and 3),
	// no dimension: collateral, so no alarm.
	MetricNetworkListings = "AuditNetworkListings"
)

// EmitMetrics writes the report's metrics as EMF lines.
func EmitMetrics(w io.Writer, rep Report) {
	for _, z := range rep.Zones {
		if z.Checked == 0 {
			continue
		}
		dims := map[string]string{"Zone": z.Zone}
		metrics.Emit(w, rep.Time, MetricListed, float64(z.Listed), "Count", dims)
		metrics.Emit(w, rep.Time, MetricZoneErrors, float64(z.Errors), "Count", dims)
	}
	own, collateral := rep.Listings()
	metrics.Emit(w, rep.Time, MetricListedTargets, float64(own), "Count", nil)
	metrics.Emit(w, rep.Time, MetricNetworkListings, float64(collateral), "Count", nil)
}
