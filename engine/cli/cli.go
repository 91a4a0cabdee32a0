// Package cli holds the command-line conventions that patchbay and
// patchbay-agent share: the help screen (flags shown as `--serve`, never as
// pflag's `--serve[=true|false]`), --version, and usage errors that point at
// the failing command's own help. It imports cobra and pflag only, so the
// agent may link it.
package cli

import (
	"fmt"
	"strings"
	"sync"
	"text/template"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Setup applies the conventions to root; every subcommand, including those
// added later, inherits them. version is printed by --version.
func Setup(root *cobra.Command, version string) {
	root.Version = version
	root.SetVersionTemplate(`{{.Name}} {{.Version}}` + "\n")
	root.SetUsageFunc(func(c *cobra.Command) error {
		return usageTemplate().Execute(c.OutOrStderr(), c)
	})
}

// HelpHint is the line printed after a usage error: the help of the
// command that failed ("Run 'patchbay plan --help' for usage.").
func HelpHint(failed *cobra.Command) string {
	path := "patchbay"
	if failed != nil {
		path = failed.CommandPath()
	}
	return fmt.Sprintf("Run '%s --help' for usage.", path)
}

// FlagUsages renders a flag set like pflag does, except that a boolean flag
// is shown as `--name` (it takes no value on the command line).
func FlagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		name, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && name != "" {
			left += " " + name
		}
		if f.Value.Type() != "bool" && f.NoOptDefVal != "" {
			left += "[=" + f.NoOptDefVal + "]"
		}
		if d := f.DefValue; d != "" && d != "false" && d != "0" && d != "[]" && d != "map[]" && d != "0s" && f.Value.Type() != "bool" {
			if f.Value.Type() == "string" {
				usage += fmt.Sprintf(" (default %q)", d)
			} else {
				usage += " (default " + d + ")"
			}
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.left, strings.ReplaceAll(r.usage, "\n", "\n"+strings.Repeat(" ", width+3)))
	}
	return b.String()
}

// usageTemplate is cobra's default usage template with FlagUsages, parsed
// on first use (start-up of every command would pay for it); a broken
// template still panics there and fails TestLazyTemplatesParse.
var usageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("usage").Funcs(template.FuncMap{
		"flags": FlagUsages,
		"trim":  func(s string) string { return strings.TrimRight(s, " \n") },
		"rpad":  func(s string, n int) string { return fmt.Sprintf("%-*s", n, s) },
	}).Parse(`Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{trim (flags .LocalFlags)}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{trim (flags .InheritedFlags)}}{{end}}{{if .HasHelpSubCommands}}

Additional help topics:{{range .Commands}}{{if .IsAdditionalHelpTopicCommand}}
  {{rpad .CommandPath .CommandPathPadding}} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`))
})
