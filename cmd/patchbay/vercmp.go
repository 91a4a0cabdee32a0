package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/patchbay/patchbay/engine/vercmp"
	"github.com/spf13/cobra"
)

func (a *app) newVercmpCmd() *cobra.Command {
	var eco string
	cmd := &cobra.Command{
		Use:   "vercmp --ecosystem deb|rpm|apk [A B]",
		Short: "Compare package versions as dpkg, rpm or apk-tools do",
		Long: `vercmp orders package versions exactly as the ecosystem's own tool does:
dpkg (deb), rpm 4.18's rpm.vercmp (rpm, [epoch:]version[-release]) or
apk-tools 3 (apk).

With two arguments it prints -1, 0 or 1 as A sorts before, the same as, or
after B. A version the ecosystem's tool refuses is an error (exit 1) that
names the reason.

With no arguments it reads lines "A<TAB>B" from standard input and writes
one line "A<TAB>B<TAB>VERDICT" per input line, in order, where VERDICT is
-1, 0, 1, or "ERR: <reason>" when a version is invalid or the line is not
two TAB-separated fields. Output is buffered and flushed whenever input
pauses, so it works both for millions of pairs and as a coprocess. The exit
code is 1 when any line was ERR, 0 otherwise.

Examples:
  patchbay vercmp --ecosystem deb 1:2.30-1 2.31-1     # prints 1 (epoch wins)
  patchbay vercmp -e rpm 1.0~rc1 1.0                   # prints -1
  patchbay vercmp -e apk 1.2.3_rc1-r0 1.2.3-r0         # prints -1
  printf '1.0\t1.0-1\n' | patchbay vercmp -e rpm       # prints 1.0	1.0-1	-1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 2 {
				return usageError("vercmp takes two versions or none (to read pairs from stdin), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if eco == "" {
				return usageError("vercmp needs --ecosystem deb, rpm or apk")
			}
			e, err := vercmp.ParseEcosystem(eco)
			if err != nil {
				return usageError("--ecosystem: %v", err)
			}
			if len(args) == 2 {
				return a.vercmpPair(e, args[0], args[1])
			}
			return a.vercmpBatch(e)
		},
	}
	cmd.Flags().StringVarP(&eco, "ecosystem", "e", "", "version ordering: deb, rpm or apk (required)")
	return cmd
}

// vercmpPair compares one pair given as arguments.
func (a *app) vercmpPair(eco vercmp.Ecosystem, x, y string) error {
	for _, v := range []string{x, y} {
		if err := vercmp.Validate(eco, v); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(a.stdout, vercmp.Compare(eco, x, y))
	return err
}

// vercmpBatch compares the pairs read from stdin, one output line per
// input line.
func (a *app) vercmpBatch(eco vercmp.Ecosystem) error {
	in := bufio.NewReaderSize(a.stdin, 64<<10)
	out := bufio.NewWriterSize(a.stdout, 64<<10)
	lines, bad := 0, 0
	for {
		// Flush before blocking on input, so a coprocess sees its answers.
		if in.Buffered() == 0 {
			if err := out.Flush(); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		line, err := in.ReadString('\n')
		if line == "" && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("read stdin: %w", err)
		}
		lines++
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if !vercmpLine(out, eco, line) {
			bad++
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if bad > 0 {
		fmt.Fprintf(a.stderr, "patchbay: vercmp: %d of %d lines had an invalid version or line\n", bad, lines)
		return errFindings
	}
	return nil
}

// vercmpLine writes the verdict line for one input line and reports
// whether it was a valid pair.
func vercmpLine(out *bufio.Writer, eco vercmp.Ecosystem, line string) bool {
	x, y, ok := strings.Cut(line, "\t")
	out.WriteString(line)
	if !ok {
		out.WriteString("\tERR: expected two versions separated by a TAB\n")
		return false
	}
	for _, v := range []string{x, y} {
		if err := vercmp.Validate(eco, v); err != nil {
			out.WriteString("\tERR: ")
			out.WriteString(err.Error())
			out.WriteByte('\n')
			return false
		}
	}
	switch vercmp.Compare(eco, x, y) {
	case -1:
		out.WriteString("\t-1\n")
	case 0:
		out.WriteString("\t0\n")
	default:
		out.WriteString("\t1\n")
	}
	return true
}
