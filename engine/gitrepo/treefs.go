package gitrepo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TreeFS is the tree of one commit as a read-only file system. It implements
// fs.FS, fs.ReadDirFS, fs.ReadFileFS and fs.StatFS. Every file's ModTime is
// the commit's committer time; symbolic links and submodules appear as
// entries whose mode says so and are not followed.
type TreeFS struct {
	tree *object.Tree
	time time.Time
}

var (
	_ fs.FS         = (*TreeFS)(nil)
	_ fs.ReadDirFS  = (*TreeFS)(nil)
	_ fs.StatFS     = (*TreeFS)(nil)
	_ fs.ReadFileFS = (*TreeFS)(nil)
)

// TreeFS returns the tree of commit h as a file system.
func (r *Repo) TreeFS(h Hash) (*TreeFS, error) {
	c, err := r.r.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w (%v)", h, ErrNotFound, err)
	}
	t, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("tree of %s: %w", h, err)
	}
	return &TreeFS{tree: t, time: c.Committer.When}, nil
}

// lookup finds name's entry; the root has a nil entry and its tree.
func (t *TreeFS) lookup(op, name string) (*object.TreeEntry, *object.Tree, error) {
	if !fs.ValidPath(name) {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return nil, t.tree, nil
	}
	e, err := t.tree.FindEntry(name)
	if err != nil {
		return nil, nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if e.Mode == filemode.Dir {
		sub, err := t.tree.Tree(name)
		if err != nil {
			return nil, nil, &fs.PathError{Op: op, Path: name, Err: err}
		}
		return e, sub, nil
	}
	return e, nil, nil
}

// Open implements fs.FS.
func (t *TreeFS) Open(name string) (fs.File, error) {
	e, sub, err := t.lookup("open", name)
	if err != nil {
		return nil, err
	}
	info := t.info(name, path.Base(name), e)
	if sub != nil {
		return &treeDir{info: info, entries: t.dirEntries(name, sub)}, nil
	}
	data, err := t.blob(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{info: info, r: bytes.NewReader(data)}, nil
}

// ReadFile implements fs.ReadFileFS.
func (t *TreeFS) ReadFile(name string) ([]byte, error) {
	e, sub, err := t.lookup("read", name)
	if err != nil {
		return nil, err
	}
	if sub != nil || e == nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	data, err := t.blob(name)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: err}
	}
	return data, nil
}

// ReadDir implements fs.ReadDirFS; entries are sorted by name.
func (t *TreeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	_, sub, err := t.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if sub == nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return t.dirEntries(name, sub), nil
}

// Stat implements fs.StatFS.
func (t *TreeFS) Stat(name string) (fs.FileInfo, error) {
	e, _, err := t.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return t.info(name, path.Base(name), e), nil
}

func (t *TreeFS) blob(name string) ([]byte, error) {
	f, err := t.tree.File(name)
	if err != nil {
		return nil, err
	}
	rc, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (t *TreeFS) dirEntries(dir string, tree *object.Tree) []fs.DirEntry {
	out := make([]fs.DirEntry, 0, len(tree.Entries))
	for i := range tree.Entries {
		e := &tree.Entries[i]
		out = append(out, fs.FileInfoToDirEntry(t.info(path.Join(dir, e.Name), e.Name, e)))
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

func (t *TreeFS) info(full, name string, e *object.TreeEntry) *entryInfo {
	fi := &entryInfo{name: name, mtime: t.time, mode: fs.ModeDir | 0o555}
	if e == nil {
		return fi
	}
	switch e.Mode {
	case filemode.Dir:
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	case filemode.Submodule:
		fi.mode = fs.ModeDir | fs.ModeIrregular | 0o555
	case filemode.Executable:
		fi.mode = 0o555
	default:
		fi.mode = 0o444
	}
	if !fi.mode.IsDir() {
		fi.path = full
		fi.sizeOf = t
	}
	return fi
}

// entryInfo is the fs.FileInfo of a tree entry. A file's size is read
// lazily from the object store.
type entryInfo struct {
	name   string
	mode   fs.FileMode
	mtime  time.Time
	path   string
	sizeOf *TreeFS
	size   int64
	sized  bool
}

func (fi *entryInfo) Name() string       { return fi.name }
func (fi *entryInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *entryInfo) ModTime() time.Time { return fi.mtime }
func (fi *entryInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *entryInfo) Sys() any           { return nil }
func (fi *entryInfo) Size() int64 {
	if fi.mode.IsDir() || fi.sizeOf == nil {
		return 0
	}
	if !fi.sized {
		if b, err := fi.sizeOf.tree.Size(fi.path); err == nil {
			fi.size = b
		}
		fi.sized = true
	}
	return fi.size
}

type treeFile struct {
	info *entryInfo
	r    *bytes.Reader
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *treeFile) Close() error               { return nil }

// Seek and ReadAt let callers (and fstest) treat the file like os.File.
func (f *treeFile) Seek(off int64, whence int) (int64, error) { return f.r.Seek(off, whence) }
func (f *treeFile) ReadAt(p []byte, off int64) (int, error)   { return f.r.ReadAt(p, off) }

type treeDir struct {
	info    *entryInfo
	entries []fs.DirEntry
	off     int
}

func (d *treeDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.entries[d.off:]
	if n <= 0 {
		d.off = len(d.entries)
		return slices.Clone(rest), nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	if n > len(rest) {
		n = len(rest)
	}
	d.off += n
	return slices.Clone(rest[:n]), nil
}
