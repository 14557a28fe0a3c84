// Package smtpcred makes a tenant's SES SMTP credentials: the IAM policy of its SMTP user, as
// data, and the SMTP password that SES derives from the user's secret access key.
//
// The policy allows sending raw mail (SMTP is ses:SendRawEmail; ses:SendEmail for the API)
// only with a From address at the tenant's domains (condition key ses:FromAddress), only as
// the tenant's domain identities and only through the tenant's configuration set (resource
// ARNs: SES has no condition key for the configuration set; a request that names another
// configuration set is refused because that set's ARN is not in the policy, and one that names
// none goes through the identities' default configuration set, which the stack sets to the
// tenant's). Mail from any other domain cannot be relayed with these credentials: no open relay
// and no forged customer senders.
package smtpcred

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/moatmail/moat/shared/outbound"
)

// Password returns the SES SMTP password of an IAM secret access key in region, by the
// algorithm AWS documents ("Obtaining Amazon SES SMTP credentials"): an HMAC-SHA256 chain
// keyed with "AWS4"+secret over the date 11111111, the region, "ses", "aws4_request" and
// "SendRawEmail", prefixed with the version byte 0x04, in base64. The password is valid only in
// that region's SMTP endpoint.
func Password(secretAccessKey, region string) (string, error) {
	if secretAccessKey == "" {
		return "", errors.New("smtp password: the secret access key is empty")
	}
	if !regionRE.MatchString(region) {
		return "", fmt.Errorf("smtp password: region %q: want a region such as eu-west-1", region)
	}
	sig := mac([]byte("AWS4"+secretAccessKey), "11111111")
	for _, m := range []string{region, "ses", "aws4_request", "SendRawEmail"} {
		sig = mac(sig, m)
	}
	return base64.StdEncoding.EncodeToString(append([]byte{0x04}, sig...)), nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-[0-9]$`)

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document.
type Statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
}

// JSON returns the document as IAM takes it.
func (d Document) JSON() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// Actions are the only actions the SMTP user may call.
var Actions = []string{"ses:SendRawEmail", "ses:SendEmail"}

var (
	partitionRE = regexp.MustCompile(`^aws(-cn|-us-gov)?$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
)

// Policy returns the IAM policy of the tenant's SMTP user in the account and region. The
// tenant needs its domains and its configuration set.
func Policy(t outbound.Tenant, partition, region, account string) (Document, error) {
	var errs []error
	if !partitionRE.MatchString(partition) {
		errs = append(errs, fmt.Errorf("partition %q: want aws, aws-cn or aws-us-gov", partition))
	}
	if !regionRE.MatchString(region) {
		errs = append(errs, fmt.Errorf("region %q: want a region such as eu-west-1", region))
	}
	if !accountRE.MatchString(account) {
		errs = append(errs, fmt.Errorf("account %q: want the 12-digit account ID", account))
	}
	if t.ConfigurationSet == "" {
		errs = append(errs, fmt.Errorf("tenant %s: configurationSet is empty (deploy the stack first)", t.ID))
	}
	if len(t.Domains) == 0 {
		errs = append(errs, fmt.Errorf("tenant %s: no domains", t.ID))
	}
	for _, d := range t.Domains {
		if err := outbound.DomainName(d); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: domain %q: %v", t.ID, d, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Document{}, err
	}
	arn := fmt.Sprintf("arn:%s:ses:%s:%s:", partition, region, account)
	var resources, from []string
	for _, d := range t.Domains {
		resources = append(resources, arn+"identity/"+d)
		from = append(from, "*@"+d)
	}
	resources = append(resources, arn+"configuration-set/"+t.ConfigurationSet)
	return Document{Version: "2012-10-17", Statement: []Statement{{
		Sid:       "SendFromTenantDomainsThroughItsConfigurationSet",
		Effect:    "Allow",
		Action:    append([]string(nil), Actions...),
		Resource:  resources,
		Condition: map[string]map[string][]string{"StringLike": {"ses:FromAddress": from}},
	}}}, nil
}
