package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// runnableMarker precedes a README shell block that TestREADME runs:
// <!-- runnable --> (every command exits 0) or <!-- runnable exit=N -->.
var runnableMarker = regexp.MustCompile(`^<!-- runnable(?: exit=(\d+))? -->$`)

// readmeCommand is one command of a runnable block.
type readmeCommand struct {
	line int    // in README.md
	exit string // expected exit code
	args string // after "patchbay"
}

// runnableCommands extracts the commands of every runnable block. Each line
// of such a block is one patchbay command (`go run ./cmd/patchbay` is the
// same program); anything else is an error, so that a block cannot be marked
// runnable and silently skipped.
func runnableCommands(readme string) ([]readmeCommand, error) {
	var out []readmeCommand
	sc := bufio.NewScanner(strings.NewReader(readme))
	n, exit, inBlock, marked := 0, "", false, false
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case !inBlock && runnableMarker.MatchString(l):
			m := runnableMarker.FindStringSubmatch(l)
			exit, marked = "0", true
			if m[1] != "" {
				exit = m[1]
			}
		case !inBlock && strings.HasPrefix(l, "```"):
			if marked && l != "```sh" {
				return nil, fmt.Errorf("README.md:%d: a runnable block must be ```sh, not %s", n, l)
			}
			inBlock = true
		case inBlock && l == "```":
			inBlock, marked = false, false
		case inBlock && marked:
			cmd := strings.TrimSpace(l)
			if cmd == "" || strings.HasPrefix(cmd, "#") {
				continue
			}
			rest, ok := strings.CutPrefix(cmd, "go run ./cmd/patchbay ")
			if !ok {
				rest, ok = strings.CutPrefix(cmd, "patchbay ")
			}
			if !ok || strings.ContainsAny(rest, "|;&<>$`\\") {
				return nil, fmt.Errorf("README.md:%d: a runnable block holds one plain patchbay command per line, not %q", n, cmd)
			}
			out = append(out, readmeCommand{line: n, exit: exit, args: rest})
		case !inBlock && marked && strings.TrimSpace(l) != "":
			return nil, fmt.Errorf("README.md:%d: <!-- runnable --> must be followed by a ```sh block", n-1)
		}
	}
	return out, sc.Err()
}

// TestREADME runs the README's runnable blocks in order, in one scratch
// directory where examples/ is the checkout's, with the patchbay under test:
// the README's commands cannot drift from the program.
func TestREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := runnableCommands(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) < 8 {
		t.Fatalf("found %d runnable README commands; the README marks more (is the marker still <!-- runnable -->?)", len(cmds))
	}
	var script strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&script, "# README.md:%d\nexitcode %s patchbay %s\n", c.line, c.exit, c.args)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "readme.txtar"), []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			return os.Symlink(filepath.Join(root, "examples"), filepath.Join(env.WorkDir, "examples"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitcode},
	})
}

// TestRunnableCommands checks the extraction itself, so that TestREADME
// cannot pass by finding nothing or by skipping a malformed block.
func TestRunnableCommands(t *testing.T) {
	got, err := runnableCommands("text\n<!-- runnable -->\n```sh\ngo run ./cmd/patchbay validate -C x\n# comment\npatchbay plan --now T\n```\n```sh\npatchbay not-run\n```\n<!-- runnable exit=1 -->\n```sh\npatchbay validate -C bad\n```\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []readmeCommand{{4, "0", "validate -C x"}, {6, "0", "plan --now T"}, {13, "1", "validate -C bad"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{
		"<!-- runnable -->\n```sh\nmake test\n```\n",
		"<!-- runnable -->\n```sh\npatchbay plan | head\n```\n",
		"<!-- runnable -->\n```yaml\na: b\n```\n",
		"<!-- runnable -->\ntext\n```sh\npatchbay x\n```\n",
	} {
		if _, err := runnableCommands(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
