//go:build !race

package stack

// closeJSII: see race_test.go.
const closeJSII = true
