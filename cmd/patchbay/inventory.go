package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plural"
	"github.com/patchbay/patchbay/engine/vercmp"
)

func (a *app) newInventoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Collect and convert host reports",
		Long: `A host report says what one host has installed: identity, stream, labels,
running kernel, reboot-required flag and every installed package with its
source package. "collect" reads this machine (or a mounted image); "convert"
turns a package database file into a report, for hosts that run no agent,
or with --out a whole inventory into the compact bulk format that
plan --inventory reads fastest.

The report format is documented in schemas/report.cue (#Report).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newInventoryCollectCmd(), a.newInventoryConvertCmd())
	return cmd
}

// reportFlags are the flags collect and convert share.
type reportFlags struct {
	hostID string
	labels []string
	format *formatFlag
	now    *nowFlag
}

func (f *reportFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.hostID, "host-id", "", "host id (letters, digits, . _ : @ -)")
	cmd.Flags().StringArrayVar(&f.labels, "label", nil, "label `k=v` to attach (repeatable)")
	f.format = addFormatFlag(cmd, "json", "jsonl")
	f.now = addNowFlag(cmd)
}

// parseLabels turns k=v flags into a map.
func parseLabels(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(flags))
	for _, l := range flags {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, usageError("--label %q: want key=value", l)
		}
		if _, dup := m[k]; dup {
			return nil, usageError("--label %q: key given twice", k)
		}
		m[k] = v
	}
	return m, nil
}

// writeReport prints a report as indented JSON or as one JSON line.
func (a *app) writeReport(r *inventory.Report, format string) error {
	var data []byte
	var err error
	if format == "jsonl" {
		data, err = json.Marshal(r)
	} else {
		data, err = json.MarshalIndent(r, "", "  ")
	}
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(append(data, '\n'))
	return err
}

// agentVersion names this program in the reports it writes.
func agentVersion() string { return "patchbay " + resolvedVersion() }

func (a *app) newInventoryCollectCmd() *cobra.Command {
	var f reportFlags
	var root string
	cmd := &cobra.Command{
		Use:   "collect [--root DIR] [--host-id ID] [--label k=v]...",
		Short: "Print this machine's report as JSON",
		Long: `Collect reads the package database of the machine (or of the image or chroot
mounted at --root) and prints its report.

  deb   var/lib/dpkg/status and var/lib/dpkg/status.d/*; installed packages only
  apk   lib/apk/db/installed
  rpm   rpm -qa --root DIR (the rpm binary must be on PATH), or for distroless
        images var/lib/rpmmanifest/container-manifest-2

The stream comes from etc/os-release (ID and VERSION_ID: debian-12,
ubuntu-24.04, rhel-9, alpine-3.20). The host id defaults to etc/machine-id,
else the hostname. The running kernel is read only when --root is /.
Reboot-required: var/run/reboot-required on Debian and Ubuntu; on rpm and apk
hosts, the newest installed kernel package is not the running kernel.

Examples:
  patchbay inventory collect
  patchbay inventory collect --host-id web-01 --label ring=canary --label team=payments
  patchbay inventory collect --root /mnt/image --host-id golden-image-2026-11 --format jsonl >> fleet.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := f.format.get()
			if err != nil {
				return err
			}
			now, err := f.now.get(a)
			if err != nil {
				return err
			}
			labels, err := parseLabels(f.labels)
			if err != nil {
				return err
			}
			rpm, _ := exec.LookPath("rpm")
			r, err := inventory.Collect(cmd.Context(), root, inventory.CollectOptions{
				HostID: f.hostID, Labels: labels, AgentVersion: agentVersion(), Now: now, RPM: rpm,
			})
			if err != nil {
				return err
			}
			return a.writeReport(r, format)
		},
	}
	cmd.Flags().StringVar(&root, "root", "/", "root directory of the system to read (a mounted image or chroot)")
	f.add(cmd)
	return cmd
}

// convertFormat maps --from to its ecosystem ("" for osquery: it serves all
// three, chosen by the stream) and reports whether the format is known.
func convertFormat(from string) (vercmp.Ecosystem, bool) {
	switch from {
	case "dpkg-status":
		return vercmp.Deb, true
	case "rpm-qa":
		return vercmp.RPM, true
	case "apk-installed":
		return vercmp.APK, true
	case "osquery":
		return "", true
	}
	return "", false
}

func (a *app) newInventoryConvertCmd() *cobra.Command {
	var f reportFlags
	var from, stream, eco, hostname, kernel, arch, out string
	var reboot bool
	cmd := &cobra.Command{
		Use:   "convert --from FORMAT FILE --stream S --host-id ID | convert --out FILE.pbinv INVENTORY",
		Short: "Turn a package database file into a report, or an inventory into a bulk file",
		Long: `Convert reads a package database file (or - for standard input) and prints the
report of the host it came from: how hosts that run no agent are imported.

With --out (and no --from) it reads INVENTORY, anything plan --inventory
takes (a .json report, a JSON-lines file or a directory of them), validates
every report and writes them all to one bulk inventory file: a binary format
with every distinct string, package and package set written once (see
engine/plan/SCALE.md, "Bulk inventory format"). plan --inventory (and every
other command that takes --inventory) recognises the file by its header,
whatever its name; the reports it reads from it are the reports of the
input. The file is written next to --out and renamed into place.

Formats (--from):
  dpkg-status    /var/lib/dpkg/status; only installed packages count
  rpm-qa         rpm -qa --queryformat output, TAB-separated:
                 name, epoch, version, release, arch, sourcerpm. Produce it with
                 rpm -qa --queryformat '` + inventory.RPMQueryFormat + `'
                 (also read: go-rpmdb's ¶-separated dumps and
                 /var/lib/rpmmanifest/container-manifest-2)
  apk-installed  /lib/apk/db/installed
  osquery        osqueryi --json results (or a snapshot log entry) of
                 deb_packages, rpm_packages or apk_packages, chosen by the stream

A malformed line or stanza is an error naming its line; no partial report is
printed.

Examples:
  patchbay inventory convert --from dpkg-status status --stream debian-12 --host-id web-01
  ssh db-01 "rpm -qa --queryformat '...'" | patchbay inventory convert --from rpm-qa - --stream rhel-9 --host-id db-01 --label ring=pilot
  osqueryi --json 'select * from deb_packages' > pkgs.json
  patchbay inventory convert --from osquery pkgs.json --stream ubuntu-24.04 --host-id k8s-node-7 --format jsonl >> fleet.jsonl
  patchbay inventory convert --out fleet.pbinv fleet.jsonl
  patchbay inventory convert --out fleet.pbinv reports/
  patchbay plan -C . --inventory fleet.pbinv --format json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("convert takes one FILE (or - for standard input), got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != "" {
				if from != "" {
					return usageError("--out converts an inventory to the bulk format, --from converts a package database file: give one of them")
				}
				return a.convertBulk(cmd, args[0], out)
			}
			format, err := f.format.get()
			if err != nil {
				return err
			}
			now, err := f.now.get(a)
			if err != nil {
				return err
			}
			labels, err := parseLabels(f.labels)
			if err != nil {
				return err
			}
			fromEco, ok := convertFormat(from)
			switch {
			case from == "":
				return usageError("--from is required: dpkg-status, rpm-qa, apk-installed or osquery (or --out FILE.pbinv to convert an inventory to the bulk format)")
			case !ok:
				return usageError("--from %q: want dpkg-status, rpm-qa, apk-installed or osquery", from)
			case stream == "":
				return usageError("--stream is required, e.g. debian-12, ubuntu-24.04, rhel-9, alpine-3.20")
			case f.hostID == "":
				return usageError("--host-id is required")
			}
			e, err := convertEcosystem(fromEco, stream, eco)
			if err != nil {
				return err
			}
			file := args[0]
			var in io.Reader = a.stdin
			if file != "-" {
				fh, err := os.Open(file)
				if err != nil {
					return err
				}
				defer fh.Close()
				in = fh
			}
			var pkgs []inventory.Package
			switch from {
			case "dpkg-status":
				pkgs, err = inventory.ParseDpkgStatus(in)
			case "rpm-qa":
				pkgs, err = inventory.ParseRPMQuery(in)
			case "apk-installed":
				pkgs, err = inventory.ParseAPKInstalled(in)
			case "osquery":
				pkgs, err = inventory.ParseOsquery(in, e)
			}
			if err != nil {
				var le *inventory.LineError
				if errors.As(err, &le) && le.File == "" {
					le.File = file
					return err
				}
				return fmt.Errorf("%s: %w", file, err)
			}
			set, err := inventory.NewPackageSet(e, pkgs)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if arch == "" {
				arch = inventory.HostArch(set)
			}
			r := &inventory.Report{
				HostID: f.hostID, Hostname: hostname, Stream: stream, Ecosystem: e, Labels: labels,
				Arch: arch, Kernel: kernel, RebootRequired: reboot, CollectedAt: now,
				AgentVersion: agentVersion(), Packages: set,
			}
			if err := r.Validate(); err != nil {
				return usageError("%v", strings.ReplaceAll(err.Error(), "\n", "; "))
			}
			return a.writeReport(r, format)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "input format: dpkg-status|rpm-qa|apk-installed|osquery")
	cmd.Flags().StringVar(&stream, "stream", "", "the host's stream, e.g. debian-12, rhel-9, alpine-3.20")
	cmd.Flags().StringVar(&eco, "ecosystem", "", "deb|rpm|apk, for --from osquery with a stream patchbay does not know")
	cmd.Flags().StringVar(&hostname, "hostname", "", "the host's name")
	cmd.Flags().StringVar(&kernel, "kernel", "", "the host's running kernel (uname -r)")
	cmd.Flags().StringVar(&arch, "arch", "", "the host's architecture (default: the most common package architecture)")
	cmd.Flags().BoolVar(&reboot, "reboot-required", false, "the host must reboot to run what is installed")
	cmd.Flags().StringVar(&out, "out", "", "write the reports of the inventory FILE (a .json, .jsonl or directory) to this bulk inventory file")
	f.add(cmd)
	return cmd
}

// convertBulk reads the inventory at in and writes it to the bulk file out.
func (a *app) convertBulk(cmd *cobra.Command, in, out string) error {
	var reports []*inventory.Report
	dec := &inventory.Decoder{Cache: inventory.NewSetCache(), Workers: runtime.GOMAXPROCS(0)}
	if err := inventory.ReadPath(cmd.Context(), in, dec, func(r *inventory.Report) error {
		reports = append(reports, r)
		return nil
	}); err != nil {
		return err
	}
	if len(reports) == 0 {
		return fmt.Errorf("%s: no reports (a directory is read as its *.json, *.jsonl and *.pbinv files)", in)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := inventory.WriteBulk(tmp, reports); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "convert: wrote %s over %s to %s (%s bytes)\n",
		plural.Count(len(reports), "report"), plural.Count(dec.Cache.Len(), "package set"), out, strconv.FormatInt(st.Size(), 10))
	return nil
}

// convertEcosystem decides the report's ecosystem from the input format,
// the stream and --ecosystem, refusing contradictions.
func convertEcosystem(fromEco vercmp.Ecosystem, stream, flag string) (vercmp.Ecosystem, error) {
	known, isKnown := inventory.EcosystemOfStream(stream)
	e := fromEco
	if flag != "" {
		fe := vercmp.Ecosystem(flag)
		if fe != vercmp.Deb && fe != vercmp.RPM && fe != vercmp.APK {
			return "", usageError("--ecosystem %q: want deb, rpm or apk", flag)
		}
		if e != "" && e != fe {
			return "", usageError("--ecosystem %s contradicts the %s input format", fe, e)
		}
		e = fe
	}
	if e == "" {
		if !isKnown {
			return "", usageError("--stream %q: unknown OS id; give --ecosystem deb|rpm|apk", stream)
		}
		e = known
	}
	if isKnown && known != e {
		return "", usageError("--stream %s is a %s stream, the input is %s", stream, known, e)
	}
	return e, nil
}
