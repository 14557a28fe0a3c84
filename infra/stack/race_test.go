//go:build race

package stack

// jsii-runtime-go v1.140.0's Close waits for its node process a second time (its own reaper
// goroutine already does; hence the "waitid: no child processes" line): the race detector
// reports that as a data race in the library. Under -race the tests leave the runtime to exit
// with the test binary (it stops when its pipes close) and leak its 2 MB temporary directory.
const closeJSII = false
