package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/patchbay/patchbay/policies"
)

// File is a policy file: a path (for messages and the manifest) and its
// content.
type File struct {
	Path    string
	Content []byte
}

// IsTest reports whether the file is a Rego test (*_test.rego). Tests are
// run by RunTests and ignored by New.
func (f File) IsTest() bool { return strings.HasSuffix(f.Path, "_test.rego") }

// Bundle is a set of policy files: the built-in ones and the repository's
// policy/*.rego from the BASE commit of the change being judged.
type Bundle struct {
	Files []File
}

// BuiltinPrefix is the directory built-in policy paths are reported under.
const BuiltinPrefix = "policies/"

// Builtin returns the built-in policy files, tests included, with paths
// under BuiltinPrefix, sorted by path.
func Builtin() ([]File, error) {
	fsys := policies.FS()
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, fmt.Errorf("list built-in policies: %w", err)
	}
	sort.Strings(names)
	files := make([]File, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read built-in policy: %w", err)
		}
		files = append(files, File{Path: path.Join(BuiltinPrefix, n), Content: b})
	}
	return files, nil
}

// WithBuiltin returns a bundle of the built-in policies and the repository
// policy files given (paths such as "policy/ticket.rego").
func WithBuiltin(repository []File) (Bundle, error) {
	files, err := Builtin()
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{Files: append(files, repository...)}, nil
}

// FileDigest is a policy file's path and "sha256:" digest.
type FileDigest struct {
	Path   string `json:"path"`
	Digest string `json:"digest"`
}

// digests returns the sorted file digests of the non-test files and the
// bundle digest: the SHA-256 of the lines "<digest>  <path>\n" in path
// order (the format of sha256sum).
func digests(files []File) ([]FileDigest, string) {
	out := []FileDigest{}
	for _, f := range files {
		if f.IsTest() {
			continue
		}
		sum := sha256.Sum256(f.Content)
		out = append(out, FileDigest{Path: f.Path, Digest: "sha256:" + hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	h := sha256.New()
	for _, d := range out {
		fmt.Fprintf(h, "%s  %s\n", strings.TrimPrefix(d.Digest, "sha256:"), d.Path)
	}
	return out, "sha256:" + hex.EncodeToString(h.Sum(nil))
}
