package delivery

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Recipient is one recipient of a message to be delivered, with the modifications its verdict
// asked for (verdict.Verdict's SubjectTag and Headers).
type Recipient struct {
	Addr       string
	SubjectTag string
	Headers    map[string]string
}

// Group turns the recipients of one message that are to be delivered into jobs: one job per
// recipient domain and identical modifications (subject tag and headers), each split into
// chunks of at most MaxRecipients, so that every job is one SMTP transaction with one version
// of the message.
//
// base supplies MessageID, Key, Sender, Released, Enqueued and Attempt; its Domain,
// Recipients, SubjectTag and Headers are set by Group. Jobs come out in the order their first
// recipient appears and keep the recipients' order; each job has its own copy of the headers.
// A recipient listed twice (the domain compared case-insensitively) is delivered once, with
// the modifications of its first entry. Group fails, dropping nothing, when an address is not
// local@domain.
func Group(base Job, rcpts []Recipient) ([]Job, error) {
	type group struct {
		domain, tag string
		headers     map[string]string
		addrs       []string
	}
	var groups []*group
	byKey := map[string]*group{}
	seen := map[string]bool{}
	for _, r := range rcpts {
		domain, err := domainOf(r.Addr)
		if err != nil {
			return nil, fmt.Errorf("group recipients of %s: %w", base.MessageID, err)
		}
		at := strings.LastIndexByte(r.Addr, '@')
		id := r.Addr[:at+1] + domain
		if seen[id] {
			continue
		}
		seen[id] = true
		k := groupKey(domain, r.SubjectTag, r.Headers)
		g := byKey[k]
		if g == nil {
			g = &group{domain: domain, tag: r.SubjectTag, headers: r.Headers}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.addrs = append(g.addrs, r.Addr)
	}
	var jobs []Job
	for _, g := range groups {
		for chunk := range slices.Chunk(g.addrs, MaxRecipients) {
			j := base
			j.Domain = g.domain
			j.Recipients = slices.Clone(chunk)
			j.SubjectTag = g.tag
			j.Headers = maps.Clone(g.headers)
			if len(j.Headers) == 0 {
				j.Headers = nil
			}
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// groupKey identifies a domain and a set of modifications; header order does not matter.
func groupKey(domain, tag string, headers map[string]string) string {
	var b strings.Builder
	b.WriteString(domain)
	b.WriteByte(0)
	b.WriteString(tag)
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		b.WriteByte(0)
		b.WriteString(name)
		b.WriteByte(0)
		b.WriteString(headers[name])
	}
	return b.String()
}
