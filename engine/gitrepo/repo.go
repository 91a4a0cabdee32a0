package gitrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"golang.org/x/crypto/ssh"
)

// Hash is a Git object name (SHA-1).
type Hash = plumbing.Hash

// Auth holds the credentials for a remote. At most one of Token and
// SSHKeyPath is used; Token wins for HTTP(S) URLs, SSHKeyPath for SSH URLs.
// The caller (cmd/) fills it from flags, environment and config files.
type Auth struct {
	// Token is an HTTP(S) access token sent as the password of basic auth.
	Token string
	// Username goes with Token; it defaults to "x-access-token", which
	// GitHub and most forges accept.
	Username string
	// SSHKeyPath is a private key file for SSH remotes.
	SSHKeyPath string
	// SSHKeyPassword decrypts SSHKeyPath when it is encrypted.
	SSHKeyPassword string
	// SSHUser is the SSH user; it defaults to "git".
	SSHUser string
	// KnownHostsPath is the known_hosts file for host key checking; empty
	// means the user's default known_hosts files.
	KnownHostsPath string
}

// Remote says where and how to clone or fetch a repository.
type Remote struct {
	// URL is the remote's URL (https://, ssh://, git@host:path or a local path).
	URL string
	// CacheDir is the directory under which clones are kept, one per URL.
	CacheDir string
	// Auth holds the credentials, if any.
	Auth Auth
}

// Repo is an open Git repository. Its methods are safe for concurrent use;
// writers of notes are serialized by a mutex in Repo and by a
// compare-and-swap on the notes ref against other processes.
type Repo struct {
	r    *git.Repository
	dir  string
	auth transport.AuthMethod
	// mu serializes writers (notes updates, fetches, pushes).
	mu sync.Mutex
}

// Open opens the repository containing dir (dir itself or a parent holding
// .git, or a bare repository).
//
// Pack files are kept open between reads (reopening one per object costs
// more than decoding it); call Close when done.
func Open(dir string) (*Repo, error) {
	r, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainOpen(dir) // a bare repository
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	if s, ok := r.Storer.(*filesystem.Storage); ok {
		ks := filesystem.NewStorageWithOptions(s.Filesystem(), cache.NewObjectLRUDefault(), filesystem.Options{KeepDescriptors: true})
		wt, _ := r.Worktree()
		var wfs billy.Filesystem
		if wt != nil {
			wfs = wt.Filesystem
		}
		if r2, err := git.Open(ks, wfs); err == nil {
			r = r2
		}
	}
	return &Repo{r: r, dir: dir}, nil
}

// Close releases the pack files the repository keeps open.
func (r *Repo) Close() error {
	if s, ok := r.fsStorage(); ok {
		return s.Close()
	}
	return nil
}

// CloneOrFetch makes a bare mirror of rem.URL under rem.CacheDir (one
// directory per URL) and returns it; when the mirror exists it is fetched
// instead (FetchKeepNotes: local notes not yet on the remote are kept).
// Notes under refs/notes/* are fetched too.
func CloneOrFetch(ctx context.Context, rem Remote) (*Repo, error) {
	auth, err := authMethod(rem.URL, rem.Auth)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(rem.URL))
	dir := filepath.Join(rem.CacheDir, hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		repo, err := Open(dir)
		if err != nil {
			return nil, err
		}
		repo.auth = auth
		if err := repo.FetchKeepNotes(ctx, "origin"); err != nil {
			return nil, err
		}
		return repo, nil
	}
	r, err := git.PlainCloneContext(ctx, dir, true, &git.CloneOptions{URL: rem.URL, Auth: auth, Mirror: true})
	if err != nil {
		return nil, fmt.Errorf("clone %s: %w", rem.URL, err)
	}
	return &Repo{r: r, dir: dir, auth: auth}, nil
}

// Fetch fetches branches and notes from the named remote into the
// repository, updating refs/remotes/<remote>/* (or refs/heads/* for a
// mirror) and refs/notes/remotes/<remote>/*.
func (r *Repo) Fetch(ctx context.Context, remote string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetch(ctx, remote, nil)
}

func (r *Repo) fetch(ctx context.Context, remote string, specs []gitconfig.RefSpec) error {
	err := r.r.FetchContext(ctx, &git.FetchOptions{RemoteName: remote, RefSpecs: specs, Auth: r.auth, Force: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetch %s: %w", remote, err)
	}
	return nil
}

// SetAuth sets the credentials used for fetches and pushes of this
// repository's remotes.
func (r *Repo) SetAuth(remoteURL string, a Auth) error {
	m, err := authMethod(remoteURL, a)
	if err != nil {
		return err
	}
	r.auth = m
	return nil
}

func authMethod(url string, a Auth) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("remote url %q: %w", url, err)
	}
	switch ep.Protocol {
	case "http", "https":
		if a.Token == "" {
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "x-access-token"
		}
		return &http.BasicAuth{Username: user, Password: a.Token}, nil
	case "ssh":
		if a.SSHKeyPath == "" {
			return nil, nil
		}
		user := a.SSHUser
		if user == "" {
			user = ep.User
		}
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyPath, a.SSHKeyPassword)
		if err != nil {
			return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyPath, err)
		}
		var files []string
		if a.KnownHostsPath != "" {
			files = append(files, a.KnownHostsPath)
		}
		cb, err := gitssh.NewKnownHostsCallback(files...)
		if err != nil {
			return nil, fmt.Errorf("ssh known hosts: %w", err)
		}
		keys.HostKeyCallback = ssh.HostKeyCallback(cb)
		return keys, nil
	default:
		return nil, nil
	}
}

// Dir returns the directory the repository was opened from.
func (r *Repo) Dir() string { return r.dir }

// Root returns the root of the repository's working tree (where .git is),
// which differs from Dir when Open was given a subdirectory; "" for a bare
// repository.
func (r *Repo) Root() string {
	wt, err := r.r.Worktree()
	if err != nil || wt.Filesystem == nil {
		return ""
	}
	return wt.Filesystem.Root()
}

// Resolve resolves a revision (a full or abbreviated hash, a branch, tag or
// any ref name, HEAD, and suffixes like ~1 and ^2) to a commit hash.
func (r *Repo) Resolve(rev string) (Hash, error) {
	if rev == "" {
		return Hash{}, fmt.Errorf("resolve: empty revision: %w", ErrNotFound)
	}
	if strings.HasPrefix(rev, "refs/") {
		if ref, err := r.r.Reference(plumbing.ReferenceName(rev), true); err == nil {
			return r.peel(ref.Hash(), rev)
		}
	}
	h, err := r.r.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return Hash{}, fmt.Errorf("resolve %q: %w (%v)", rev, ErrNotFound, err)
	}
	return r.peel(*h, rev)
}

// peel follows annotated tags to the commit they name.
func (r *Repo) peel(h Hash, rev string) (Hash, error) {
	for range 10 {
		obj, err := r.r.Object(plumbing.AnyObject, h)
		if err != nil {
			return Hash{}, fmt.Errorf("resolve %q: %w (%v)", rev, ErrNotFound, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			return o.Hash, nil
		case *object.Tag:
			h = o.Target
		default:
			return Hash{}, fmt.Errorf("resolve %q: %s is a %s, not a commit", rev, h, obj.Type())
		}
	}
	return Hash{}, fmt.Errorf("resolve %q: tag chain too long", rev)
}

// Commit is a commit's metadata.
type Commit struct {
	Hash      Hash
	Parents   []Hash
	Author    Signature
	Committer Signature
	Message   string
}

// Signature is who made a commit, and when.
type Signature = object.Signature

// Subject returns the first line of the commit message.
func (c *Commit) Subject() string {
	s, _, _ := strings.Cut(c.Message, "\n")
	return s
}

// Commit returns the commit named by h.
func (r *Repo) Commit(h Hash) (*Commit, error) {
	c, err := r.r.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w (%v)", h, ErrNotFound, err)
	}
	return toCommit(c), nil
}

func toCommit(c *object.Commit) *Commit {
	return &Commit{Hash: c.Hash, Parents: c.ParentHashes, Author: c.Author, Committer: c.Committer, Message: c.Message}
}

// fsStorage returns the filesystem storage, when the repository has one.
func (r *Repo) fsStorage() (*filesystem.Storage, bool) {
	s, ok := r.r.Storer.(*filesystem.Storage)
	return s, ok
}

// ParseHash parses a full 40-hex commit name.
func ParseHash(s string) (Hash, error) {
	if len(s) != 40 || !isHex(s) {
		return Hash{}, fmt.Errorf("%q is not a full commit hash (40 lowercase hex digits)", s)
	}
	return plumbing.NewHash(s), nil
}
