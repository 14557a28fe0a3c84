// Package schema describes the gateway's stateful resources once: the DynamoDB tables with their
// keys, indexes and TTL attribute, the queues and the topics. The CDK app, the local stack and
// the integration tests all create resources from this description, so they cannot drift.
package schema

// Key is a DynamoDB key attribute; all keys are strings.
type Key struct {
	Partition string
	Sort      string // empty: no sort key
}

// Index is a global secondary index projecting all attributes.
type Index struct {
	Name string
	Key  Key
}

// Table describes one DynamoDB table.
type Table struct {
	ID      string // CDK construct ID and logical name, PascalCase; the local stack prefixes it
	EnvVar  string // environment variable that carries the table's physical name to functions
	Key     Key
	Indexes []Index
	TTL     string // TTL attribute (epoch seconds); empty: none
}

// Queue describes one SQS queue; every queue has a dead-letter queue.
type Queue struct {
	ID                string
	EnvVar            string // carries the queue URL
	VisibilitySeconds int
	MaxReceives       int // receives before a message moves to the dead-letter queue
}

// Topic describes one SNS topic.
type Topic struct {
	ID     string
	EnvVar string // carries the topic ARN
}

// Bucket is the mail bucket's environment variable and its prefixes.
const (
	BucketEnvVar      = "MAIL_BUCKET"
	IncomingPrefix    = "incoming/"
	QuarantinePrefix  = "quarantine/"
	SubmissionsPrefix = "submissions/"
	ModelsPrefix      = "models/" // the spam model (shared/modelstore)
)

// Tables. Items share a generic pk/sk layout; each store documents its item types.
var (
	Policies = Table{ID: "Policies", EnvVar: "POLICY_TABLE", Key: Key{"pk", "sk"}}
	Tracking = Table{
		ID: "Tracking", EnvVar: "TRACKING_TABLE", Key: Key{"pk", "sk"}, TTL: "expires",
		Indexes: []Index{
			{Name: "byTime", Key: Key{"gsiDay", "gsiTime"}},
			{Name: "bySender", Key: Key{"sender", "gsiTime"}},
			{Name: "byRecipient", Key: Key{"recipient", "gsiTime"}},
			{Name: "byDomain", Key: Key{"domain", "gsiTime"}},
			{Name: "byClientIP", Key: Key{"clientIP", "gsiTime"}},
		},
	}
	Reputation = Table{ID: "Reputation", EnvVar: "REPUTATION_TABLE", Key: Key{"pk", "sk"}, TTL: "expires"}
)

// Queues.
var (
	Delivery = Queue{ID: "Delivery", EnvVar: "DELIVERY_QUEUE_URL", VisibilitySeconds: 300, MaxReceives: 50}
)

// Topics.
var (
	Alerts = Topic{ID: "Alerts", EnvVar: "ALERT_TOPIC_ARN"}
)

// AllTables, AllQueues and AllTopics are what a stack creates.
var (
	AllTables = []Table{Policies, Tracking, Reputation}
	AllQueues = []Queue{Delivery}
	AllTopics = []Topic{Alerts}
)
