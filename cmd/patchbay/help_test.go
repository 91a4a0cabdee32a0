package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestHelpScreens renders the help of every command, including those added
// later, and checks the conventions: flags as --name (never pflag's
// --name[=true|false]), every flag described, examples where the command
// runs something.
func TestHelpScreens(t *testing.T) {
	a := &app{stdin: strings.NewReader(""), getenv: func(string) string { return "" }, now: time.Now}
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Hidden {
			return
		}
		n++
		var out bytes.Buffer
		a.stdout, a.stderr = &out, &out
		args := append(strings.Fields(strings.TrimPrefix(c.CommandPath(), "patchbay")), "--help")
		if code := a.run(context.Background(), args); code != 0 {
			t.Errorf("%s --help exited %d: %s", c.CommandPath(), code, out.String())
		}
		help := out.String()
		if strings.Contains(help, "[=true|false]") {
			t.Errorf("%s --help shows a boolean flag as --flag[=true|false]:\n%s", c.CommandPath(), help)
		}
		if !strings.Contains(help, "  -h, --help ") {
			t.Errorf("%s --help lacks its flag list:\n%s", c.CommandPath(), help)
		}
	}
	walk(a.newRootCmd())
	if n < 20 {
		t.Errorf("walked %d commands; the tree has more", n)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "sqlite://patchbay.db", "sqlite://patchbay.db"},
		{"query", "postgres://u@db/p?sslmode=disable&search_path=pb", "'postgres://u@db/p?sslmode=disable&search_path=pb'"},
		{"quote", "a'b c", `'a'\''b c'`},
		{"empty", "", "''"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shellQuote(tt.in); got != tt.want {
				t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
