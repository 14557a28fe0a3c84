package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml3 "sigs.k8s.io/yaml/goyaml.v3"
)

// Marshal writes p as canonical YAML: fields in the order of the Go types (defaults, domains,
// senders, ips, rules; within each, as declared), map keys sorted, empty fields left out,
// block style with two-space indents. The same document always gives the same bytes, so two
// versions diff cleanly. Parse reads the output back to an equal document. Comments are not
// kept.
func Marshal(p *Policy) ([]byte, error) {
	q := *p
	if q.Domains == nil {
		q.Domains = map[string]Domain{}
	}
	var js bytes.Buffer
	enc := json.NewEncoder(&js)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&q); err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	// JSON keeps the struct field order; a yaml.Node keeps the JSON order.
	var doc yaml3.Node
	if err := yaml3.Unmarshal(js.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	restyle(&doc)
	var out bytes.Buffer
	ye := yaml3.NewEncoder(&out)
	ye.SetIndent(2)
	if err := ye.Encode(&doc); err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	if err := ye.Close(); err != nil {
		return nil, fmt.Errorf("marshal policy: %w", err)
	}
	return out.Bytes(), nil
}

// restyle drops the JSON flow and quoting styles so the encoder writes block YAML and quotes
// only the strings that need it. Strings that YAML 1.1 readers (the one Parse uses) would take
// for something else stay double-quoted.
//
// It also drops empty IP lists ("ips: {}"), which encoding/json cannot leave out.
func restyle(n *yaml3.Node) {
	n.Style = 0
	if n.Kind == yaml3.ScalarNode && n.Tag == "!!str" && needsQuotes(n.Value) {
		n.Style = yaml3.DoubleQuotedStyle
	}
	if n.Kind == yaml3.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "ips" && v.Kind == yaml3.MappingNode && len(v.Content) == 0 {
				continue
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		restyle(c)
	}
}

// needsQuotes reports strings that a YAML 1.1 reader resolves to a non-string when plain:
// the old booleans (yes, no, on, off, y, n) and sexagesimal numbers (1:30).
func needsQuotes(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", "":
		return true
	}
	if strings.Contains(s, ":") && strings.Trim(s, "0123456789:._+-") == "" {
		return true
	}
	return false
}
