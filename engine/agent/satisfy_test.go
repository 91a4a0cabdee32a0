package agent_test

import (
	"testing"

	"github.com/patchbay/patchbay/engine/agent"
	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

func TestSatisfied(t *testing.T) {
	ps, err := inventory.NewPackageSet(vercmp.Deb, []inventory.Package{
		{Name: "libssl3", Version: "3.0.15-1~deb12u1", Arch: "amd64", SourceName: "openssl", SourceVersion: "3.0.15-1~deb12u1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &inventory.Report{Ecosystem: vercmp.Deb, Packages: ps, RebootRequired: true}
	tests := []struct {
		name string
		act  api.Action
		want bool
	}{
		{"source floor met", api.Action{Kind: "upgrade", Package: "libssl3", MinSource: "3.0.15-1~deb12u1"}, true},
		{"source floor above", api.Action{Kind: "upgrade", Package: "libssl3", MinSource: "3.0.16-1"}, false},
		{"binary floor (tilde sorts lower)", api.Action{Kind: "upgrade", Package: "libssl3", Min: "3.0.15-1"}, false},
		{"exact", api.Action{Kind: "install", Package: "libssl3", Version: "3.0.15-1~deb12u1"}, true},
		{"exact other", api.Action{Kind: "install", Package: "libssl3", Version: "3.0.14-1"}, false},
		{"avoided", api.Action{Kind: "upgrade", Package: "libssl3", Avoid: []string{"3.0.15-1~deb12u1"}}, false},
		{"absent", api.Action{Kind: "install", Package: "curl", Min: "1"}, false},
		{"reboot pending", api.Action{Kind: "reboot"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, why := agent.Satisfied(r, tt.act); got != tt.want {
				t.Errorf("Satisfied = %v (%s), want %v", got, why, tt.want)
			}
		})
	}
}
