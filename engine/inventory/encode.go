package inventory

import (
	"encoding/json"
	"errors"
	"time"
)

// wireReport is the JSON shape of a Report, used for encoding.
type wireReport struct {
	HostID         string            `json:"hostId"`
	Hostname       string            `json:"hostname,omitempty"`
	Stream         string            `json:"stream"`
	Ecosystem      string            `json:"ecosystem"`
	Labels         map[string]string `json:"labels,omitempty"`
	Arch           string            `json:"arch,omitempty"`
	Kernel         string            `json:"kernel,omitempty"`
	RebootRequired bool              `json:"rebootRequired"`
	CollectedAt    string            `json:"collectedAt"`
	AgentVersion   string            `json:"agentVersion,omitempty"`
	PackageSetHash string            `json:"packageSetHash"`
	Packages       []wirePackage     `json:"packages"`
}

type wirePackage struct {
	Name          string `json:"name"`
	Version       string `json:"version"`
	Arch          string `json:"arch"`
	SourceName    string `json:"sourceName"`
	SourceVersion string `json:"sourceVersion"`
}

// MarshalJSON writes the report in the wire format, packages sorted, with
// its package-set hash. It refuses a report that does not validate, so what
// it writes Decode reads back.
func (r *Report) MarshalJSON() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(r.wire())
}

func (r *Report) wire() wireReport {
	w := wireReport{
		HostID: r.HostID, Hostname: r.Hostname, Stream: r.Stream, Ecosystem: string(r.Ecosystem),
		Labels: r.Labels, Arch: r.Arch, Kernel: r.Kernel, RebootRequired: r.RebootRequired,
		CollectedAt:  r.CollectedAt.UTC().Format(time.RFC3339Nano),
		AgentVersion: r.AgentVersion, PackageSetHash: r.Packages.Hash(),
		Packages: make([]wirePackage, 0, r.Packages.Len()),
	}
	for i := range r.Packages.Len() {
		w.Packages = append(w.Packages, wirePackage(r.Packages.At(i)))
	}
	return w
}

// UnmarshalJSON decodes and validates a report with Decode, so a Report
// embedded in other JSON obeys the same rules and limits.
func (r *Report) UnmarshalJSON(data []byte) error {
	if r == nil {
		return errors.New("inventory: UnmarshalJSON on nil *Report")
	}
	got, err := Decode(data)
	if err != nil {
		return err
	}
	*r = *got
	return nil
}
