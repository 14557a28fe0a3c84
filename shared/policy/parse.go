package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"
)

// Parse reads a policy document, YAML or JSON (the same field names), and validates it. A
// document with problems returns a *ValidationError listing all of them at once: unknown
// fields (with a did-you-mean), values of the wrong type and every failed validation rule.
func Parse(data []byte) (*Policy, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the policy document is empty")
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("read policy document: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("read policy document: %w", err)
	}
	if _, ok := raw.(map[string]any); !ok {
		return nil, fmt.Errorf("the policy document is %s: it must be a mapping with defaults, domains, senders, ips and rules", describe(raw))
	}
	if coerceValues(raw) {
		if js, err = json.Marshal(raw); err != nil {
			return nil, fmt.Errorf("read policy document: %w", err)
		}
	}
	var ps problems
	checkShape(&ps, raw, reflect.TypeFor[Policy](), "")
	p := new(Policy)
	if len(ps.list) > 0 {
		// Unknown fields alone still let the rest be validated; wrong types do not.
		if json.Unmarshal(js, p) != nil {
			return nil, ps.err()
		}
		p.validate(&ps)
		return nil, ps.err()
	}
	dec = json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("read policy document: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// coerceValues turns the numbers among criteria values into strings, so that
// `values: [1000]` reads like `values: ["1000"]`. It reports whether it changed anything.
func coerceValues(raw any) bool {
	changed := false
	rules, _ := raw.(map[string]any)["rules"].([]any)
	for _, r := range rules {
		crit, _ := asMap(r)["criteria"].([]any)
		for _, c := range crit {
			vals, _ := asMap(c)["values"].([]any)
			for i, v := range vals {
				if n, ok := v.(json.Number); ok {
					vals[i] = n.String()
					changed = true
				}
			}
		}
	}
	return changed
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// checkShape walks a decoded JSON value beside the Go type it will decode into and reports
// unknown fields and values of the wrong type, each with its path. Field names are matched
// exactly, not case-insensitively as encoding/json would.
func checkShape(ps *problems, v any, t reflect.Type, path string) {
	if v == nil {
		return // null leaves the zero value
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "%s is not allowed: must be a mapping of fields", describe(v))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			f, ok := fields[k]
			if !ok {
				ps.addText(field(path, k), unknownField(k, path, fields))
				continue
			}
			checkShape(ps, obj[k], f, field(path, k))
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			ps.add(path, "%s is not allowed: must be a mapping", describe(v))
			return
		}
		for _, k := range sortedKeys(obj) {
			checkShape(ps, obj[k], t.Elem(), key(path, k))
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			ps.add(path, "%s is not allowed: must be a list", describe(v))
			return
		}
		for i, e := range arr {
			checkShape(ps, e, t.Elem(), index(path, i))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ps.add(path, "%s is not allowed: must be a string (quote it)", describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ps.add(path, "%s is not allowed: must be true or false", describe(v))
		}
	case reflect.Int, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			hint := ""
			if str, isStr := v.(string); isStr && strings.HasSuffix(path, "Bytes") {
				if b, err := ParseSize(str); err == nil {
					hint = fmt.Sprintf(" of bytes (%d for %s)", b, str)
				}
			}
			ps.add(path, "%s is not allowed: must be a whole number%s", describe(v), hint)
			return
		}
		if _, err := n.Int64(); err != nil {
			ps.add(path, "%s is not allowed: must be a whole number", n)
		}
	case reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			ps.add(path, "%s is not allowed: must be a number", describe(v))
			return
		}
		if _, err := n.Float64(); err != nil {
			ps.add(path, "%s is not allowed: must be a number", n)
		}
	}
}

// describe shows a decoded JSON value in an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	default:
		return fmt.Sprint(v)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps a struct's JSON field names to their types, with embedded structs' fields
// promoted as encoding/json does.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	defer fieldCache.Store(t, out)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// unknownField words the problem of a field name that t does not have.
func unknownField(name, path string, fields map[string]reflect.Type) string {
	known := sortedKeys(fields)
	msg := fmt.Sprintf("unknown field %q %s", name, where(path))
	if s := suggest(name, known); s != "" {
		return msg + " (did you mean " + s + "?)"
	}
	return msg + " (known fields: " + strings.Join(known, ", ") + ")"
}

// suggest returns the candidate closest to s by edit distance (ignoring case) when it is close
// enough to be a likely typo, or "".
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(1, len(s)/3) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b, in bytes: insertions,
// deletions, substitutions and transpositions of adjacent bytes each cost one.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b)) // not a typo of a field name
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
