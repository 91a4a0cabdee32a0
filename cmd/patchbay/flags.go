package main

import (
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// formatFlag is the --format flag of a command whose output is data.
type formatFlag struct {
	value   string
	allowed []string
}

// addFormatFlag registers --format on cmd with the allowed values; the first
// one is the default.
func addFormatFlag(cmd *cobra.Command, allowed ...string) *formatFlag {
	f := &formatFlag{value: allowed[0], allowed: allowed}
	cmd.Flags().StringVar(&f.value, "format", allowed[0], "output format: "+strings.Join(allowed, "|"))
	return f
}

// get returns the chosen format or a usage error.
func (f *formatFlag) get() (string, error) {
	if !slices.Contains(f.allowed, f.value) {
		return "", usageError("--format %q: must be one of %s", f.value, strings.Join(f.allowed, ", "))
	}
	return f.value, nil
}

// addRepoFlag registers -C/--repo-dir, the patch repository directory.
func addRepoFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVarP(dir, "dir", "C", ".", "patch repository directory")
}

// nowFlag is the --now flag: the moment commands judge expiry, staleness and
// deadlines against. It defaults to the wall clock.
type nowFlag struct{ value string }

func addNowFlag(cmd *cobra.Command) *nowFlag {
	f := &nowFlag{}
	cmd.Flags().StringVar(&f.value, "now", "", "evaluate as of this time (RFC 3339, default: the current time)")
	return f
}

func (f *nowFlag) get(a *app) (time.Time, error) {
	if f.value == "" {
		return a.now().UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, f.value)
	if err != nil {
		return time.Time{}, usageError("--now %q: want RFC 3339, e.g. 2026-11-26T09:00:00Z", f.value)
	}
	return t.UTC(), nil
}

// noArgs refuses positional arguments with a usage error (exit 2).
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError("unexpected argument %q for %q", args[0], cmd.CommandPath())
	}
	return nil
}
