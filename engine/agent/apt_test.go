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

// TestAptCommandSimulated runs the commands AptCommand builds through the
// real apt-get in simulate mode (-s): apt must accept them and plan the
// expected change. It skips where apt-get or its package lists are absent.
func TestAptCommandSimulated(t *testing.T) {
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
	bash := installed("bash")
	if bash == "" {
		t.Skip("bash is not installed by dpkg here")
	}
	tests := []struct {
		name string
		act  api.Action
		// want is a line apt's simulation must print ("" = just exit 0).
		want string
	}{
		{"floor upgrade", api.Action{Kind: api.KindUpgrade, Package: "bash", Min: bash}, ""},
		{"exact installed version", api.Action{Kind: api.KindUpgrade, Package: "bash", Version: bash}, ""},
		{"install absent package", api.Action{Kind: api.KindInstall, Package: "sl"}, "Inst sl "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := agent.AptCommand(tt.act)
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
	// A version apt does not know is refused: the command really pins.
	c, _ := agent.AptCommand(api.Action{Kind: api.KindUpgrade, Package: "bash", Version: "0.0-nonexistent"})
	out, err := exec.Command("apt-get", append([]string{"-s"}, c.Args[1:]...)...).CombinedOutput()
	if err == nil {
		t.Errorf("apt-get accepted a nonexistent version:\n%s", out)
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		name  string
		build func(api.Action) (agent.Command, error)
		act   api.Action
		want  string
	}{
		{"apt floor", agent.AptCommand, api.Action{Kind: "upgrade", Package: "openssl", MinSource: "3.0.15-1"},
			"DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef --only-upgrade openssl"},
		{"apt pin", agent.AptCommand, api.Action{Kind: "install", Package: "openssl", Version: "3.0.15-1"},
			"DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef openssl=3.0.15-1"},
		{"apt downgrade", agent.AptCommand, api.Action{Kind: "downgrade", Package: "openssl", Version: "3.0.11-1"},
			"DEBIAN_FRONTEND=noninteractive apt-get install -y -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef --allow-downgrades openssl=3.0.11-1"},
		{"dnf floor", agent.DnfCommand, api.Action{Kind: "upgrade", Package: "openssh", MinSource: "8.7p1-38.el9"}, "dnf -y upgrade openssh"},
		{"dnf pin", agent.DnfCommand, api.Action{Kind: "upgrade", Package: "openssh", Version: "8.7p1-38.el9"}, "dnf -y install openssh-8.7p1-38.el9"},
		{"apk floor", agent.ApkCommand, api.Action{Kind: "upgrade", Package: "musl", MinSource: "1.2.5-r1"}, "apk add --upgrade musl"},
		{"apk pin", agent.ApkCommand, api.Action{Kind: "upgrade", Package: "musl", Version: "1.2.5-r1"}, "apk add musl=1.2.5-r1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.build(tt.act)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tt.want {
				t.Errorf("got  %s\nwant %s", c, tt.want)
			}
		})
	}
}
