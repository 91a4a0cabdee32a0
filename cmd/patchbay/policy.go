package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/gate"
)

func (a *app) newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with the gate's policies",
		Long: `Policy groups the commands about the promotion gate's policies: the built-in
ones (embedded in patchbay) and the patch repository's own policy/*.rego.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newPolicyTestCmd())
	return cmd
}

func (a *app) newPolicyTestCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the built-in and repository policies' Rego tests",
		Long: `Test runs the Rego unit tests (rules named test_* in *_test.rego files) of
the built-in policies and of the patch repository's policy/*.rego, compiled
together, with OPA's test runner, and reports like 'opa test -v': one line
per test (PASS, FAIL, ERROR or SKIPPED) grouped by file, then the summary.

Built-in files are shown under policies/, repository files under policy/.
Repository policies must be in packages under patchbay (e.g.
package patchbay.repo.ticket); their tests may import the built-in ones.

After the tests, the policies are also prepared as the gate prepares them,
so that a policy the gate would refuse (a package outside patchbay or in a
built-in package, a nondeterministic built-in) fails here too.

Exit status: 0 all tests pass and the gate can use the policies, 1 a test
failed or a policy does not compile or cannot be used, 2 usage.`,
		Example: `  patchbay policy test
  patchbay policy test -C examples/quickstart
  patchbay policy test --format json`,
		Args: cobra.NoArgs,
	}
	addRepoFlag(cmd, &dir)
	format := addFormatFlag(cmd, "text", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := format.get()
		if err != nil {
			return err
		}
		files, err := gate.Builtin()
		if err != nil {
			return err
		}
		repo, err := readPolicyDir(dir)
		if err != nil {
			return err
		}
		results, err := gate.RunTests(cmd.Context(), append(files, repo...))
		if err != nil {
			return err
		}
		sum := summarizeTests(results)
		if f == "json" {
			out := struct {
				Results []gate.TestResult `json:"results"`
				Summary testSummary       `json:"summary"`
			}{Results: results, Summary: sum}
			if out.Results == nil {
				out.Results = []gate.TestResult{}
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(out); err != nil {
				return err
			}
		} else {
			writeTestsText(a, results, sum)
		}
		if sum.Total == 0 {
			return fmt.Errorf("no Rego tests found")
		}
		// Tests passing is not enough: the gate must be able to use the
		// policies (packages, capabilities, reporting rules).
		eng, err := gate.New(cmd.Context(), gate.Bundle{Files: append(files, repo...)})
		if err != nil {
			return err
		}
		if err := eng.Err(); err != nil {
			return fmt.Errorf("the gate cannot use these policies: %w", err)
		}
		if sum.Pass+sum.Skip != sum.Total {
			return errFindings
		}
		return nil
	}
	return cmd
}

// readPolicyDir reads DIR/policy/*.rego from disk, with paths relative to
// DIR ("policy/x.rego"). A repository without policy/ has none.
func readPolicyDir(dir string) ([]gate.File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "policy", "*.rego"))
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	sort.Strings(names)
	var files []gate.File
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read policies: %w", err)
		}
		files = append(files, gate.File{Path: path.Join("policy", filepath.Base(n)), Content: b})
	}
	return files, nil
}

// testSummary counts test results by outcome.
type testSummary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
	Skip  int `json:"skip"`
	Total int `json:"total"`
}

func summarizeTests(results []gate.TestResult) testSummary {
	var s testSummary
	for _, r := range results {
		s.Total++
		switch r.Result {
		case "PASS":
			s.Pass++
		case "FAIL":
			s.Fail++
		case "ERROR":
			s.Error++
		default:
			s.Skip++
		}
	}
	return s
}

func writeTestsText(a *app, results []gate.TestResult, s testSummary) {
	file := ""
	for i, r := range results {
		if i == 0 || r.File != file {
			if i > 0 {
				fmt.Fprintln(a.stdout)
			}
			file = r.File
			fmt.Fprintf(a.stdout, "%s:\n", file)
		}
		fmt.Fprintf(a.stdout, "%s: %s\n", r.Name, r.Result)
		if r.Error != "" {
			for _, line := range strings.Split(strings.TrimRight(r.Error, "\n"), "\n") {
				fmt.Fprintf(a.stdout, "  %s\n", line)
			}
		}
	}
	fmt.Fprintln(a.stdout, strings.Repeat("-", 80))
	for _, c := range []struct {
		name string
		n    int
	}{{"PASS", s.Pass}, {"FAIL", s.Fail}, {"ERROR", s.Error}, {"SKIPPED", s.Skip}} {
		if c.n > 0 {
			fmt.Fprintf(a.stdout, "%s: %d/%d\n", c.name, c.n, s.Total)
		}
	}
}
