package stack

import (
	"strings"
	"testing"
)

// TestTraining: the bucket sends its events to EventBridge; a rule hands Object Created events
// under submissions/ of that bucket to the train function, with retries and a dead-letter
// queue; the function may read samples and tag them, read the quarantined copies that end
// users' decisions name, and read and write only the model.
func TestTraining(t *testing.T) {
	buckets := resources("AWS::S3::Bucket")
	enabled := false
	for _, b := range buckets {
		if strings.Contains(js(props(b)["NotificationConfiguration"]), `"EventBridgeEnabled":true`) {
			enabled = true
		}
	}
	if !enabled {
		t.Error("no bucket sends its events to EventBridge")
	}
	found := false
	for _, r := range resources("AWS::Events::Rule") {
		p := js(props(r)["EventPattern"])
		if !strings.Contains(p, `"Object Created"`) {
			continue
		}
		found = true
		for _, want := range []string{`"aws.s3"`, `{"prefix":"submissions/"}`, `StorageMail`} {
			if !strings.Contains(p, want) {
				t.Errorf("training rule pattern %s lacks %s", p, want)
			}
		}
		targets := js(props(r)["Targets"])
		for _, want := range []string{`"DeadLetterConfig"`, `"MaximumRetryAttempts":8`, `TrainingTrain`} {
			if !strings.Contains(targets, want) {
				t.Errorf("training rule targets %s lack %s", targets, want)
			}
		}
	}
	if !found {
		t.Fatal("no rule for S3 Object Created events")
	}
	var policies []string
	for id, r := range resources("AWS::IAM::Policy") {
		if strings.HasPrefix(id, "TrainingTrain") {
			policies = append(policies, js(props(r)["PolicyDocument"]))
		}
	}
	doc := strings.Join(policies, "\n")
	for _, want := range []string{`/submissions/*`, `/models/*`, `s3:PutObjectTagging`} {
		if !strings.Contains(doc, want) {
			t.Errorf("train function's policy lacks %s:\n%s", want, doc)
		}
	}
	// It reads (never writes) the quarantined copies that end users' decisions name.
	if !strings.Contains(doc, `/quarantine/*`) {
		t.Errorf("train function's policy cannot read quarantined copies:\n%s", doc)
	}
	for _, not := range []string{`/incoming/*`, `dynamodb:`} {
		if strings.Contains(doc, not) {
			t.Errorf("train function's policy grants %s:\n%s", not, doc)
		}
	}
}
