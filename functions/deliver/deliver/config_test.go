package deliver

import (
	"strings"
	"testing"
	"time"
)

func getenvOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func baseEnv() map[string]string {
	return map[string]string{
		"MAIL_BUCKET": "b", "POLICY_TABLE": "p", "TRACKING_TABLE": "t", "DELIVERY_QUEUE_URL": "q",
		"BOUNCE_SENDER": "MAILER-DAEMON@mail.example.com",
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(getenvOf(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.HeloName != "mail.example.com" || c.Retry.MaxAge != 5*24*time.Hour || c.Retry.Base != 5*time.Minute ||
		c.Retry.Cap != 4*time.Hour || c.Retry.MaxReceives != 50 || c.Concurrency != 10 {
		t.Errorf("defaults %+v", c)
	}
	env := baseEnv()
	env["RETRY_MAX_AGE_HOURS"] = "240"
	env["HELO_NAME"] = "gw.example.com"
	c, err = LoadConfig(getenvOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retry.MaxAge != 10*24*time.Hour || c.Retry.Cap != 8*time.Hour || c.HeloName != "gw.example.com" {
		t.Errorf("10 days: max age %s cap %s helo %s", c.Retry.MaxAge, c.Retry.Cap, c.HeloName)
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"BOUNCE_SENDER": "nobody", "RETRY_MAX_AGE_HOURS": "400", "CONCURRENCY": "x",
		"RETRY_BASE_SECONDS": "600", "RETRY_CAP_SECONDS": "60", "LOG_LEVEL": "loud", "HELO_NAME": "a b",
	}
	_, err := LoadConfig(getenvOf(env))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		"MAIL_BUCKET is not set", "POLICY_TABLE is not set", "TRACKING_TABLE is not set", "DELIVERY_QUEUE_URL is not set",
		`BOUNCE_SENDER "nobody"`, `RETRY_MAX_AGE_HOURS "400": want a whole number from 1 to 312`, `CONCURRENCY "x"`,
		"RETRY_CAP_SECONDS 60 is below RETRY_BASE_SECONDS 600", `LOG_LEVEL "loud"`, `HELO_NAME "a b"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
