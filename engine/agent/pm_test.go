package agent_test

import (
	"reflect"
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
)

func TestOfferedCommand(t *testing.T) {
	tests := []struct {
		tool  agent.Tool
		extra []string
		want  string
	}{
		{agent.Apt, nil, "apt-cache madison libfoo1 foo-tool"},
		// dnf list cannot combine --installed with --available (a usage
		// error, exit 1) and wraps long names; repoquery prints one line a
		// version, from the cache the refresh made.
		{agent.Dnf, []string{"--installroot=/r"}, "dnf --installroot=/r -q --cacheonly repoquery --showduplicates --available --queryformat %{name} %{evr} libfoo1 foo-tool"},
		{agent.Apk, []string{"--root", "/r"}, "apk --root /r policy libfoo1 foo-tool"},
	}
	for _, tt := range tests {
		c, err := agent.OfferedCommand(tt.tool, []string{"libfoo1", "foo-tool"}, tt.extra...)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != tt.want {
			t.Errorf("%s:\ngot  %s\nwant %s", tt.tool, c, tt.want)
		}
	}
	if _, err := agent.OfferedCommand("yum", nil); err == nil {
		t.Error("unknown tool accepted")
	}
}

// TestParseOffered reads the real tools' output (captured from apt-cache
// 2.6, dnf 4.14 and apk-tools 3.0.6 on the real-host tests' repositories).
func TestParseOffered(t *testing.T) {
	tests := []struct {
		name string
		tool agent.Tool
		out  string
		want map[string][]string
	}{
		{"apt", agent.Apt, "   libfoo1 |      1.1-1 | file:/srv/repo ./ Packages\n   libfoo1 |      1.0-1 | file:/srv/repo ./ Packages\n  foo-tool |      1.1-1 | file:/srv/repo ./ Packages\n",
			map[string][]string{"libfoo1": {"1.1-1", "1.0-1"}, "foo-tool": {"1.1-1"}}},
		{"dnf", agent.Dnf, "foo-tool 1.0-1\nfoo-tool 1.1-1\nlibfoo 1.0-1\nlibfoo 1:1.1-1\nlibfoo-devel 1.1-1\n",
			map[string][]string{"foo-tool": {"1.0-1", "1.1-1"}, "libfoo": {"1.0-1", "1:1.1-1"}}},
		// A version apk knows only from its installed database is not
		// offered: a rollback to it would fail.
		{"apk", agent.Apk, "libfoo policy:\n  1.0-r0:\n    lib/apk/db/installed\n  1.1-r0:\n    lib/apk/db/installed\n    /srv/repo/Packages.adb\n  1.2-r0:\n    /srv/repo/Packages.adb\nfoo-tool policy:\n  1.1-r0:\n    /srv/repo/Packages.adb\n",
			map[string][]string{"libfoo": {"1.1-r0", "1.2-r0"}, "foo-tool": {"1.1-r0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs := []string{"libfoo1", "libfoo", "foo-tool"}
			if got := agent.ParseOffered(tt.tool, tt.out, pkgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
