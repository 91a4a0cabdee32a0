package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

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
// DIR ("policy/x.rego"). A repository without policy/ has none. Symbolic
// links and special files are refused without being opened (a link could
// point at /proc/self/environ, whose content a parse error would print),
// and every open stays inside DIR.
func readPolicyDir(dir string) ([]gate.File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	defer root.Close()
	st, err := root.Lstat("policy")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("read policies: policy is not a directory (%s); patchbay reads only regular files in a plain policy/ folder", st.Mode().Type())
	}
	entries, err := fs.ReadDir(root.FS(), "policy")
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	var files []gate.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".rego") || e.IsDir() {
			continue
		}
		p := path.Join("policy", e.Name())
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("read policies: %s is not a regular file (%s); patchbay reads only regular files, replace it with the file's content", p, e.Type())
		}
		b, err := readRegular(root, p)
		if err != nil {
			return nil, fmt.Errorf("read policies: %w", err)
		}
		files = append(files, gate.File{Path: p, Content: b})
	}
	return files, nil
}

// readRegular reads the regular file p inside root, refusing anything else
// as it is opened.
func readRegular(root *os.Root, p string) ([]byte, error) {
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err == nil && len(b) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB", p)
	}
	return b, err
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
