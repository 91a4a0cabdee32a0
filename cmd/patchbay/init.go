package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"text/template"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/plural"
)

func (a *app) newInitCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write a patch repository skeleton that validates",
		Long: `Init writes a working patch repository into DIR: patchbay.cue (config with
one stream, the ring order canary → pilot → prod, SLA tiers and approver
groups), one baseline for the current month, and the three rings pinning it.
Edit the files, then run 'patchbay validate -C DIR'. Existing files are never
overwritten unless --force is given.`,
		Example: `  patchbay init patches && patchbay validate -C patches
  git -C patches init && git -C patches add . && git -C patches commit -m "patchbay skeleton"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("init takes one argument, the directory to write (got %d)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.initRepo(args[0], force)
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

var skeleton = map[string]string{
	"patchbay.cue": `package patchbay

// Repository configuration. Reference: patchbay's schemas (#Config).
config: {
	// Every OS line the fleet runs, with its package ecosystem (deb, rpm, apk).
	streams: "debian-12": {ecosystem: "deb", description: "Debian 12 (bookworm)"}

	// Promotion order: a baseline reaches pilot only after canary ran it.
	rings: ["canary", "pilot", "prod"]

	// Days to remediate a finding, by severity; KEV findings get at most kev days.
	sla: {critical: 15, high: 30, medium: 90, low: 180, kev: 14}

	// Approver groups: GitHub logins.
	approvers: {
		sre: ["your-github-login"]
		security: ["your-github-login"]
		"policy-owners": ["your-github-login"]
	}

	reports: staleAfter: "72h"
	exceptions: maxDays: 90
}
`,
	"baselines/{{.ID}}.cue": `package patchbay

// The first baseline. Once a ring pins it, it is immutable: make the next
// change a new baseline (or a hotfix with extends: "{{.ID}}").
baselines: "{{.ID}}": {
	created: "{{.Date}}"
	summary: "First baseline"
	streams: "debian-12": {
		// A source rule applies to every binary built from the source
		// package, judged on the source version.
		sources: openssl: {min: "3.0.17-1~deb12u3", severity: "high"}
		packages: tzdata: {min: "2025b-0+deb12u1", severity: "low"}
	}
}
`,
	"rings/canary.cue": `package patchbay

rings: canary: {
	selector: labels: ring: "canary"
	baseline: "{{.ID}}"
	strategy: {maxConcurrency: 1, maxErrors: 1}
	soak: "24h"
	approvals: {required: 1, groups: ["sre"]}
}
`,
	"rings/pilot.cue": `package patchbay

rings: pilot: {
	selector: labels: ring: "pilot"
	baseline: "{{.ID}}"
	strategy: {maxConcurrency: "25%", maxErrors: 1}
	windows: [{days: ["mon", "tue", "wed", "thu"], start: "22:00", duration: "4h", timezone: "UTC"}]
	soak: "72h"
	approvals: {required: 1, groups: ["sre"]}
}
`,
	"rings/prod.cue": `package patchbay

rings: prod: {
	selector: labels: ring: "prod"
	baseline: "{{.ID}}"
	strategy: {maxConcurrency: "10%", maxErrors: "2%"}
	windows: [{days: ["sat", "sun"], start: "02:00", duration: "6h", timezone: "UTC"}]
	soak: "168h"
	approvals: {required: 1, groups: ["sre"]}
}
`,
	"exceptions/README.md": "Exceptions: one file per waiver, exceptions/<id>.cue, with owner, reason,\ncompensating control and expiry. See `patchbay validate --help`.\n",
	"policy/README.md":     "Repository policies: policy/*.rego files are added to patchbay's built-in\npolicies. Test them with `patchbay policy test -C .`.\n",
}

func (a *app) initRepo(dir string, force bool) error {
	now := a.now().UTC()
	data := struct{ ID, Date string }{ID: now.Format("2006-01"), Date: now.Format("2006-01-02")}
	type file struct {
		rel, path string
		body      []byte
	}
	var files []file
	for name, text := range skeleton {
		var rel, body bytes.Buffer
		if err := template.Must(template.New("p").Parse(name)).Execute(&rel, data); err != nil {
			return err
		}
		if err := template.Must(template.New("f").Parse(text)).Execute(&body, data); err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(rel.String()))
		if _, err := os.Stat(p); err == nil && !force {
			return fmt.Errorf("init: %s exists; choose an empty directory or pass --force to overwrite", p)
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init: %w", err)
		}
		files = append(files, file{rel: rel.String(), path: p, body: body.Bytes()})
	}
	// Nothing is written until every path is known to be free.
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return fmt.Errorf("init: %w", err)
		}
		if err := os.WriteFile(f.path, f.body, 0o644); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	written := files
	fmt.Fprintf(a.stdout, "wrote a patch repository skeleton to %s (%s)\nnext: edit %s/patchbay.cue, then run: patchbay validate -C %s\n", dir, plural.Count(len(written), "file"), dir, dir)
	return nil
}
