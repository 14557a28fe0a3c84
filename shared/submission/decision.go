package submission

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moatmail/moat/shared/schema"
)

// FeedbackPrefix is where end users' quarantine decisions (the digest links) are stored for
// the training function: small JSON objects naming a quarantined copy and a label, so that
// the function recording them never reads the message.
const FeedbackPrefix = schema.SubmissionsPrefix + "feedback/"

// MaxDecisionBytes bounds a decision object.
const MaxDecisionBytes = 4 << 10

// Decision says that the quarantined copy at Key is Label: a release of mail held as spam or
// phishing is ham, blocking its sender is spam.
type Decision struct {
	Key   string `json:"key"`
	Label Label  `json:"label"`
}

// Validate refuses a decision whose label is not spam or ham, or whose key is not a
// quarantined copy.
func (d Decision) Validate() error {
	if d.Label != Spam && d.Label != Ham {
		return fmt.Errorf("decision label %q: want spam or ham", d.Label)
	}
	rest, ok := strings.CutPrefix(d.Key, schema.QuarantinePrefix)
	if !ok || rest == "" || len(d.Key) > 1024 || strings.Contains(d.Key, "..") {
		return fmt.Errorf("decision key %q: want a quarantined copy under %s", d.Key, schema.QuarantinePrefix)
	}
	return nil
}

// DecisionKey is where a decision is stored: submissions/feedback/<sha256 of label and key>.json.
// The same decision on the same message (its recipients each releasing it) is one object.
func DecisionKey(d Decision) string {
	sum := sha256.Sum256([]byte(string(d.Label) + "\n" + d.Key))
	return FeedbackPrefix + hex.EncodeToString(sum[:]) + ".json"
}

// IsDecisionKey reports whether key is where DecisionKey stores decisions.
func IsDecisionKey(key string) bool {
	return strings.HasPrefix(key, FeedbackPrefix) && strings.HasSuffix(key, ".json")
}

// ParseDecision reads and validates a stored decision.
func ParseDecision(data []byte) (Decision, error) {
	var d Decision
	if len(data) > MaxDecisionBytes {
		return d, fmt.Errorf("decision of %d bytes: at most %d", len(data), MaxDecisionBytes)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("decision: %w", err)
	}
	return d, d.Validate()
}
