//go:build ignore

// testsum runs `go test -json` with the given arguments, prints what plain
// `go test` prints (each package's ok / FAIL / no test files line, and the
// output of failed tests), then lists every skipped test with its reason and
// ends with "N passed, N failed". Its exit status is go test's, or 1 when a
// skip reason matches -require (tests that must run in CI).
//
//	go run .ci/testsum.go -- -race -count=1 ./...
//	go run .ci/testsum.go -require '(?i)(postgres|\bcue\b|cosign|\bopa\b)' -- -race ./...
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type skip struct{ pkg, test, reason string }

func main() {
	require := flag.String("require", "", "fail when a skipped test's reason matches this regular expression")
	goBin := flag.String("go", "go", "the go command")
	flag.Parse()
	var must *regexp.Regexp
	if *require != "" {
		must = regexp.MustCompile(*require)
	}
	cmd := exec.Command(*goBin, append([]string{"test", "-json"}, flag.Args()...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum:", err)
		os.Exit(1)
	}
	s := summarize(out, os.Stdout)
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	if len(s.skips) > 0 {
		fmt.Printf("\nSKIPPED (%d):\n", len(s.skips))
		for _, k := range s.skips {
			fmt.Printf("  %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	var required []skip
	for _, k := range s.skips {
		if must != nil && must.MatchString(k.reason) {
			required = append(required, k)
		}
	}
	if len(required) > 0 {
		noun := "tests that must run in CI"
		if len(required) == 1 {
			noun = "test that must run in CI"
		}
		fmt.Printf("\nFAIL: %d %s skipped (reason matches %s):\n", len(required), noun, *require)
		for _, k := range required {
			fmt.Printf("  %s %s: %s\n", k.pkg, k.test, k.reason)
		}
		if code == 0 {
			code = 1
		}
	}
	fmt.Printf("%d skipped\n%d passed, %d failed\n", len(s.skips), s.passed, s.failed+len(required))
	os.Exit(code)
}

type summary struct {
	passed, failed int
	skips          []skip
}

// summarize reads the test2json stream from r and writes to w what plain
// go test would print.
func summarize(r io.Reader, w io.Writer) summary {
	var s summary
	// Output per test (package + name), kept until the test ends.
	buf := map[string][]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not JSON: a build error, say
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			if e.Test == "" {
				// Package-level lines: ok, FAIL, build failures, "no test files".
				if !strings.HasPrefix(e.Output, "=== ") && !strings.HasPrefix(e.Output, "PASS\n") && e.Output != "FAIL\n" {
					fmt.Fprint(w, e.Output)
				}
				continue
			}
			buf[key] = append(buf[key], e.Output)
		case "pass":
			if e.Test != "" {
				s.passed++
			}
			delete(buf, key)
		case "fail":
			if e.Test != "" {
				s.failed++
				for _, l := range buf[key] {
					fmt.Fprint(w, l)
				}
			}
			delete(buf, key)
		case "skip":
			if e.Test != "" {
				s.skips = append(s.skips, skip{pkg: e.Package, test: e.Test, reason: reason(buf[key])})
			}
			delete(buf, key)
		}
	}
	sort.Slice(s.skips, func(i, j int) bool {
		if s.skips[i].pkg != s.skips[j].pkg {
			return s.skips[i].pkg < s.skips[j].pkg
		}
		return s.skips[i].test < s.skips[j].test
	})
	return s
}

// reason is the skip message among a test's output lines: the last line that
// is not go test's own framing.
func reason(lines []string) string {
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		return l
	}
	return "(no reason given)"
}
