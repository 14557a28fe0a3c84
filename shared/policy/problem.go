package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a policy document.
type Problem struct {
	// Path locates the field: `domains["example.com"].maxRecipients`, `senders[3].pattern`,
	// `rules[0].criteria[1].values[0]`; empty for the document as a whole.
	Path string `json:"path"`
	// Text is the whole message, naming the path, the value and what is allowed.
	Text string `json:"text"`
}

func (p Problem) String() string { return p.Text }

// ValidationError lists every problem found in a policy document, in document order.
type ValidationError struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Text
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems while a document is checked.
type problems struct {
	list []Problem
}

// add records "path: message".
func (ps *problems) add(path, format string, args ...any) {
	text := fmt.Sprintf(format, args...)
	if path != "" {
		text = path + ": " + text
	}
	ps.list = append(ps.list, Problem{Path: path, Text: text})
}

// addText records a problem whose text already says where it is.
func (ps *problems) addText(path, text string) {
	ps.list = append(ps.list, Problem{Path: path, Text: text})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

// Field path builders.

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

func key(path, k string) string { return path + "[" + strconv.Quote(k) + "]" }

// where names a path in a sentence.
func where(path string) string {
	if path == "" {
		return "at the top level"
	}
	return "in " + path
}
