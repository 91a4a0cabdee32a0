package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/engine/api"
)

// Spool keeps results on disk until the server acknowledges them: one file
// per results request, named by the first action id, written atomically
// before the first delivery attempt and removed after the server's 200. A
// file that was delivered but not removed (a crash in between) is delivered
// again and the server answers duplicate: results are recorded exactly
// once.
type Spool struct{ Dir string }

func (s Spool) dir() string { return filepath.Join(s.Dir, "spool") }

// Put stores req and returns its file name.
func (s Spool) Put(req api.ResultsRequest) (string, error) {
	if err := os.MkdirAll(s.dir(), 0o700); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	name := filepath.Join(s.dir(), req.Results[0].ActionID+".json")
	return name, writeFileAtomic(name, b, 0o600)
}

// Pending returns the spooled requests by file name.
func (s Spool) Pending() (map[string]api.ResultsRequest, error) {
	ents, err := os.ReadDir(s.dir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	out := map[string]api.ResultsRequest{}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := filepath.Join(s.dir(), e.Name())
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		var req api.ResultsRequest
		if err := json.Unmarshal(b, &req); err != nil || len(req.Results) == 0 {
			// A torn file cannot exist (atomic writes); a foreign one is set aside.
			_ = os.Rename(name, name+".bad")
			continue
		}
		out[name] = req
	}
	return out, nil
}

// names returns the spooled file names in order.
func names(m map[string]api.ResultsRequest) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Done removes a delivered file.
func (s Spool) Done(name string) error {
	if err := os.Remove(name); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Reject renames a file the server refused to name.json.rejected: it is
// kept for inspection and no longer delivered.
func (s Spool) Reject(name string) error {
	if err := os.Rename(name, name+".rejected"); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// Markers the agent keeps beside the spool while a step is in flight.
const (
	// markerInflight exists from just before a transaction until its
	// results are spooled: found at start, it means the agent stopped in
	// between, and the actions are judged from the post-state then.
	markerInflight = "inflight"
	// markerReboot exists from just before the reboot command until the
	// reboot's result is spooled after the restart.
	markerReboot = "rebooting"
)

func (s Spool) markerPath(name string) string { return filepath.Join(s.Dir, "state-"+name+".json") }

// SaveMarker stores v as marker name, atomically.
func (s Spool) SaveMarker(name string, v any) error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.markerPath(name), b, 0o600)
}

// LoadMarker reads marker name into v; ok is false when there is none.
func (s Spool) LoadMarker(name string, v any) (bool, error) {
	b, err := os.ReadFile(s.markerPath(name))
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("spool: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		_ = os.Rename(s.markerPath(name), s.markerPath(name)+".bad")
		return false, fmt.Errorf("spool: marker %s: %w (set aside as .bad)", name, err)
	}
	return true, nil
}

// ClearMarker removes marker name.
func (s Spool) ClearMarker(name string) error {
	if err := os.Remove(s.markerPath(name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
