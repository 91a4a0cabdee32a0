package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultStateDir is where the agent keeps its credentials and spool.
const DefaultStateDir = "/var/lib/patchbay-agent"

// CredentialsFile is the credentials file's name in the state directory.
const CredentialsFile = "credentials.json"

// Credentials are what enrollment gives a host.
type Credentials struct {
	Server string `json:"server"`
	HostID string `json:"hostId"`
	Token  string `json:"token"`
}

// SaveCredentials writes c to dir/credentials.json with mode 0600
// (atomically: a temporary file renamed over the old one).
func SaveCredentials(dir string, c Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, CredentialsFile), append(b, '\n'), 0o600)
}

// LoadCredentials reads dir/credentials.json; ErrNotEnrolled if absent.
func LoadCredentials(dir string) (Credentials, error) {
	b, err := os.ReadFile(filepath.Join(dir, CredentialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, ErrNotEnrolled
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("load credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil || c.Token == "" || c.HostID == "" || c.Server == "" {
		return Credentials{}, fmt.Errorf("load credentials: %s is malformed", filepath.Join(dir, CredentialsFile))
	}
	return c, nil
}

func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(name)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
