package agent_test

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
)

// TestAptTransactionSimulated runs the transactions InstallCommand builds
// through the real apt-get in simulate mode (-s): apt must accept them and
// plan the expected change. It skips where apt-get or its package lists
// are absent.
func TestAptTransactionSimulated(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not installed")
	}
	installed := func(pkg string) string {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
		if err != nil {
			return ""
		}
		return string(out)
	}
	bash, dpkg := installed("bash"), installed("dpkg")
	if bash == "" || dpkg == "" {
		t.Skip("bash or dpkg is not installed by dpkg here")
	}
	tests := []struct {
		name string
		reqs []agent.Request
		// want is a line apt's simulation must print ("" = just exit 0).
		want string
	}{
		{"candidate upgrade", []agent.Request{{Package: "bash", Kind: api.KindUpgrade}}, ""},
		{"two exact versions in one transaction", []agent.Request{{Package: "bash", Version: bash, Kind: api.KindUpgrade}, {Package: "dpkg", Version: dpkg, Kind: api.KindUpgrade}}, ""},
		{"install absent package with an upgrade", []agent.Request{{Package: "sl", Kind: api.KindInstall}, {Package: "bash", Version: bash, Kind: api.KindUpgrade}}, "Inst sl "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := agent.InstallCommand(agent.Apt, tt.reqs)
			if err != nil {
				t.Fatal(err)
			}
			if c.Args[0] != "apt-get" || !slices.Contains(c.Env, "DEBIAN_FRONTEND=noninteractive") || !slices.Contains(c.Args, "Dpkg::Options::=--force-confold") {
				t.Fatalf("command %v", c)
			}
			args := append([]string{"-s"}, c.Args[1:]...)
			cmd := exec.CommandContext(context.Background(), "apt-get", args...)
			cmd.Env = append(cmd.Environ(), c.Env...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "Unable to locate package") || strings.Contains(string(out), "has no installation candidate") {
					t.Skipf("apt has no package lists for this (run apt-get update): %s", out)
				}
				t.Fatalf("apt-get %v: %v\n%s", args, err, out)
			}
			if tt.want != "" && !strings.Contains(string(out), tt.want) {
				t.Errorf("apt-get %v did not plan %q:\n%s", args, tt.want, out)
			}
		})
	}
	// A version apt does not know fails the whole transaction: the command
	// really pins, and nothing of it is installed.
	c, _ := agent.InstallCommand(agent.Apt, []agent.Request{{Package: "dpkg", Version: dpkg, Kind: api.KindUpgrade}, {Package: "bash", Version: "0.0-nonexistent", Kind: api.KindUpgrade}})
	out, err := exec.Command("apt-get", append([]string{"-s"}, c.Args[1:]...)...).CombinedOutput()
	if err == nil {
		t.Errorf("apt-get accepted a nonexistent version:\n%s", out)
	}
}

func TestInstallCommand(t *testing.T) {
	up := func(p, v string) agent.Request { return agent.Request{Package: p, Version: v, Kind: api.KindUpgrade} }
	apt := "DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef "
	tests := []struct {
		name  string
		tool  agent.Tool
		reqs  []agent.Request
		extra []string
		want  string
	}{
		{"apt candidates", agent.Apt, []agent.Request{up("openssl", ""), up("libssl3", "")}, nil, apt + "--only-upgrade openssl libssl3"},
		{"apt tested set", agent.Apt, []agent.Request{up("libssl3", "3.0.17-1~deb12u3"), up("openssl", "3.0.17-1~deb12u3")}, nil,
			apt + "--only-upgrade libssl3=3.0.17-1~deb12u3 openssl=3.0.17-1~deb12u3"},
		{"apt install and downgrade", agent.Apt, []agent.Request{{Package: "sl", Kind: api.KindInstall}, {Package: "openssl", Version: "3.0.11-1", Kind: api.KindDowngrade}}, nil,
			apt + "--allow-downgrades sl openssl=3.0.11-1"},
		{"dnf candidates", agent.Dnf, []agent.Request{up("openssh", ""), up("openssl", "")}, nil, "dnf -y upgrade openssh openssl"},
		{"dnf exact", agent.Dnf, []agent.Request{up("openssh", "8.7p1-38.el9"), up("openssl", "3.0.7-27.el9")}, []string{"--installroot", "/r"},
			"dnf --installroot /r -y install openssh-8.7p1-38.el9 openssl-3.0.7-27.el9"},
		{"dnf rollback", agent.Dnf, []agent.Request{{Package: "openssl", Version: "3.0.7-24.el9", Kind: api.KindDowngrade}}, nil, "dnf -y downgrade openssl-3.0.7-24.el9"},
		{"apk candidates", agent.Apk, []agent.Request{up("musl", "")}, nil, "apk add --virtual .patchbay-step --upgrade musl"},
		{"apk exact", agent.Apk, []agent.Request{up("musl", "1.2.5-r1"), up("musl-utils", "1.2.5-r1")}, []string{"--root", "/r"},
			"apk --root /r add --virtual .patchbay-step musl=1.2.5-r1 musl-utils=1.2.5-r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := agent.InstallCommand(tt.tool, tt.reqs, tt.extra...)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tt.want {
				t.Errorf("got  %s\nwant %s", c, tt.want)
			}
		})
	}
}

// TestFollowUpCommands: apk's step constraints live in a virtual package
// that goes after the transaction (a plain `apk add a=1` pins a in world
// for good); a newly installed package joins world unversioned. The other
// package managers need nothing after the transaction.
func TestFollowUpCommands(t *testing.T) {
	reqs := []agent.Request{{Package: "musl", Version: "1.2.5-r1", Kind: api.KindUpgrade}, {Package: "sl", Kind: api.KindInstall}}
	var got []string
	for _, c := range agent.FollowUpCommands(agent.Apk, reqs, "--root", "/r") {
		got = append(got, c.String())
	}
	want := []string{"apk --root /r add sl", "apk --root /r del .patchbay-step"}
	if !slices.Equal(got, want) {
		t.Errorf("apk: got %q, want %q", got, want)
	}
	if got := agent.FollowUpCommands(agent.Apk, reqs[:1]); len(got) != 1 || got[0].String() != "apk del .patchbay-step" {
		t.Errorf("apk upgrade only: %v", got)
	}
	for _, tool := range []agent.Tool{agent.Apt, agent.Dnf} {
		if got := agent.FollowUpCommands(tool, reqs); got != nil {
			t.Errorf("%s: %v", tool, got)
		}
	}
}
