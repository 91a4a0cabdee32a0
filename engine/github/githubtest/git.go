package githubtest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// The Git Data API (blobs, trees, commits, refs) and pull request
// creation, backed by a real Git repository: what a client creates through
// the API lands as real objects and refs in that repository, so the same
// commits can be fetched over Git (gitrepo.MirrorGit on the directory, or
// git http-backend serving it) as they can from GitHub.

// MaxBodyChars is GitHub's limit on a pull request body.
const MaxBodyChars = 65536

// BotLogin is the login GitHub shows as the author of what a token (or an
// App installation) creates through the API.
const BotLogin = "patchbay[bot]"

// ServeGit backs the Git Data and pull request creation endpoints with the
// repository at dir (bare or not). Without it those endpoints answer 404,
// as GitHub does for a repository the token cannot see.
func (s *Server) ServeGit(dir string) error {
	r, err := git.PlainOpen(dir)
	if err != nil {
		return fmt.Errorf("githubtest: open %s: %w", dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.git = r
	return nil
}

// Created returns copies of the pull requests opened through the API, in
// order.
func (s *Server) Created() []PR {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PR
	for _, n := range s.created {
		out = append(out, *s.PRs[n])
	}
	return out
}

func validation(msg string) (int, any) {
	return http.StatusUnprocessableEntity, map[string]any{"message": msg,
		"documentation_url": "https://docs.github.com/rest"}
}

func notFound() (int, any) { return http.StatusNotFound, map[string]string{"message": "Not Found"} }

func validSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func (s *Server) hasObject(t plumbing.ObjectType, sha string) bool {
	if !validSHA(sha) {
		return false
	}
	o, err := s.git.Storer.EncodedObject(t, plumbing.NewHash(sha))
	return err == nil && o.Type() == t
}

func (s *Server) refJSON(r *http.Request, name string, h plumbing.Hash) map[string]any {
	return map[string]any{"ref": name, "node_id": "REF_" + h.String()[:8],
		"url":    fmt.Sprintf("http://%s%s/repos/%s/%s/git/%s", r.Host, Prefix, s.Owner, s.Repo, name),
		"object": map[string]any{"type": "commit", "sha": h.String()}}
}

func (s *Server) getRef(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	name := "refs/" + r.PathValue("ref")
	ref, err := s.git.Storer.Reference(plumbing.ReferenceName(name))
	if err != nil || ref.Type() != plumbing.HashReference {
		return notFound()
	}
	return http.StatusOK, s.refJSON(r, name, ref.Hash())
}

func (s *Server) createBlob(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	var in struct {
		Content  *string `json:"content"`
		Encoding string  `json:"encoding"`
	}
	if !decode(r, &in) {
		return validation("Problems parsing JSON")
	}
	if in.Content == nil {
		return validation("Invalid request.\n\n\"content\" wasn't supplied.")
	}
	data := []byte(*in.Content)
	switch in.Encoding {
	case "", "utf-8":
	case "base64":
		b, err := base64.StdEncoding.DecodeString(*in.Content)
		if err != nil {
			return validation("Invalid request: content is not valid Base64")
		}
		data = b
	default:
		return validation("Invalid request: encoding must be utf-8 or base64")
	}
	o := s.git.Storer.NewEncodedObject()
	o.SetType(plumbing.BlobObject)
	w, _ := o.Writer()
	_, _ = w.Write(data)
	_ = w.Close()
	h, err := s.git.Storer.SetEncodedObject(o)
	if err != nil {
		return http.StatusInternalServerError, map[string]string{"message": err.Error()}
	}
	return http.StatusCreated, map[string]any{"sha": h.String(), "url": "blobs/" + h.String()}
}

type treeEntryIn struct {
	Path    string  `json:"path"`
	Mode    string  `json:"mode"`
	Type    string  `json:"type"`
	SHA     *string `json:"sha"`
	Content *string `json:"content"`
}

func (s *Server) createTree(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	var in struct {
		BaseTree string        `json:"base_tree"`
		Tree     []treeEntryIn `json:"tree"`
	}
	if !decode(r, &in) {
		return validation("Problems parsing JSON")
	}
	if in.Tree == nil {
		return validation("Invalid request.\n\n\"tree\" wasn't supplied.")
	}
	files := map[string]*object.TreeEntry{}
	if in.BaseTree != "" {
		if !s.hasObject(plumbing.TreeObject, in.BaseTree) {
			return validation("base_tree is not a valid tree oid")
		}
		base, err := object.GetTree(s.git.Storer, plumbing.NewHash(in.BaseTree))
		if err != nil {
			return validation("base_tree is not a valid tree oid")
		}
		walk := object.NewTreeWalker(base, true, nil)
		for {
			name, e, err := walk.Next()
			if err != nil {
				break
			}
			if e.Mode != filemode.Dir {
				e := e
				files[name] = &e
			}
		}
		walk.Close()
	}
	for i, e := range in.Tree {
		p := path.Clean(e.Path)
		if e.Path == "" || p != e.Path || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") || p == ".." {
			return validation(fmt.Sprintf("tree.path[%d] is invalid", i))
		}
		mode, err := filemode.New(e.Mode)
		if err != nil || (mode != filemode.Regular && mode != filemode.Executable && mode != filemode.Symlink) || e.Type != "blob" {
			return validation(fmt.Sprintf("tree[%d]: mode %q type %q: only blobs (100644, 100755, 120000) are supported here", i, e.Mode, e.Type))
		}
		switch {
		case e.SHA != nil && e.Content != nil:
			return validation(fmt.Sprintf("tree[%d]: sha and content are mutually exclusive", i))
		case e.Content != nil:
			return validation(fmt.Sprintf("tree[%d]: content is not supported here; create a blob", i))
		case e.SHA == nil:
			delete(files, p) // a null sha deletes the path
		default:
			if !s.hasObject(plumbing.BlobObject, *e.SHA) {
				return validation(fmt.Sprintf("tree.sha %s is not a valid blob", *e.SHA))
			}
			files[p] = &object.TreeEntry{Name: path.Base(p), Mode: mode, Hash: plumbing.NewHash(*e.SHA)}
		}
	}
	h, err := s.writeTree(files, "")
	if err != nil {
		return http.StatusInternalServerError, map[string]string{"message": err.Error()}
	}
	return http.StatusCreated, map[string]any{"sha": h.String(), "truncated": false}
}

// writeTree writes the tree of every file under dir (a prefix with a
// trailing slash, or "") and returns its hash.
func (s *Server) writeTree(files map[string]*object.TreeEntry, dir string) (plumbing.Hash, error) {
	subdirs := map[string]bool{}
	var entries []object.TreeEntry
	for p, e := range files {
		rest, ok := strings.CutPrefix(p, dir)
		if !ok {
			continue
		}
		if d, _, nested := strings.Cut(rest, "/"); nested {
			subdirs[d] = true
			continue
		}
		entries = append(entries, object.TreeEntry{Name: rest, Mode: e.Mode, Hash: e.Hash})
	}
	for d := range subdirs {
		h, err := s.writeTree(files, dir+d+"/")
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: d, Mode: filemode.Dir, Hash: h})
	}
	// Git orders tree entries by name, directories as if they ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	t := &object.Tree{Entries: entries}
	o := s.git.Storer.NewEncodedObject()
	if err := t.Encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.git.Storer.SetEncodedObject(o)
}

type personIn struct {
	Name  string    `json:"name"`
	Email string    `json:"email"`
	Date  time.Time `json:"date"`
}

func (s *Server) createCommit(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	var in struct {
		Message   *string   `json:"message"`
		Tree      string    `json:"tree"`
		Parents   []string  `json:"parents"`
		Author    *personIn `json:"author"`
		Committer *personIn `json:"committer"`
	}
	if !decode(r, &in) {
		return validation("Problems parsing JSON")
	}
	if in.Message == nil {
		return validation("Invalid request.\n\n\"message\" wasn't supplied.")
	}
	if !s.hasObject(plumbing.TreeObject, in.Tree) {
		return validation("Tree SHA does not exist")
	}
	c := &object.Commit{Message: *in.Message, TreeHash: plumbing.NewHash(in.Tree)}
	for _, p := range in.Parents {
		if !s.hasObject(plumbing.CommitObject, p) {
			return validation("Parent SHA does not exist or is not a commit object")
		}
		c.ParentHashes = append(c.ParentHashes, plumbing.NewHash(p))
	}
	// Without an author GitHub uses the authenticated user and now.
	bot := object.Signature{Name: BotLogin, Email: "bot@users.noreply.github.invalid", When: s.Now().UTC()}
	c.Author, c.Committer = bot, bot
	if in.Author != nil {
		if in.Author.Name == "" || in.Author.Email == "" {
			return validation("Invalid request: author needs name and email")
		}
		c.Author = object.Signature{Name: in.Author.Name, Email: in.Author.Email, When: in.Author.Date}
		if in.Author.Date.IsZero() {
			c.Author.When = bot.When
		}
		c.Committer = c.Author
	}
	if in.Committer != nil {
		if in.Committer.Name == "" || in.Committer.Email == "" {
			return validation("Invalid request: committer needs name and email")
		}
		c.Committer = object.Signature{Name: in.Committer.Name, Email: in.Committer.Email, When: in.Committer.Date}
		if in.Committer.Date.IsZero() {
			c.Committer.When = bot.When
		}
	}
	o := s.git.Storer.NewEncodedObject()
	if err := c.Encode(o); err != nil {
		return http.StatusInternalServerError, map[string]string{"message": err.Error()}
	}
	h, err := s.git.Storer.SetEncodedObject(o)
	if err != nil {
		return http.StatusInternalServerError, map[string]string{"message": err.Error()}
	}
	// GitHub links a commit made through the API to the token's account.
	s.Commits[h.String()] = CommitUsers{Author: BotLogin, Committer: BotLogin}
	parents := []map[string]any{}
	for _, p := range in.Parents {
		parents = append(parents, map[string]any{"sha": p})
	}
	return http.StatusCreated, map[string]any{"sha": h.String(), "message": c.Message, "tree": map[string]any{"sha": in.Tree}, "parents": parents,
		"author":    map[string]any{"name": c.Author.Name, "email": c.Author.Email, "date": c.Author.When.Format(time.RFC3339)},
		"committer": map[string]any{"name": c.Committer.Name, "email": c.Committer.Email, "date": c.Committer.When.Format(time.RFC3339)}}
}

func (s *Server) getGitCommit(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	sha := r.PathValue("sha")
	if !s.hasObject(plumbing.CommitObject, sha) {
		return notFound()
	}
	c, err := object.GetCommit(s.git.Storer, plumbing.NewHash(sha))
	if err != nil {
		return notFound()
	}
	parents := []map[string]any{}
	for _, p := range c.ParentHashes {
		parents = append(parents, map[string]any{"sha": p.String()})
	}
	return http.StatusOK, map[string]any{"sha": sha, "message": c.Message, "tree": map[string]any{"sha": c.TreeHash.String()}, "parents": parents}
}

func (s *Server) createRef(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	var in struct {
		Ref string `json:"ref"`
		SHA string `json:"sha"`
	}
	if !decode(r, &in) {
		return validation("Problems parsing JSON")
	}
	if !strings.HasPrefix(in.Ref, "refs/") || strings.Count(in.Ref, "/") < 2 || plumbing.ReferenceName(in.Ref).Validate() != nil {
		return validation("Reference name is invalid: " + in.Ref)
	}
	if !s.hasObject(plumbing.CommitObject, in.SHA) {
		return validation("Object does not exist")
	}
	name := plumbing.ReferenceName(in.Ref)
	if _, err := s.git.Storer.Reference(name); err == nil {
		return validation("Reference already exists")
	}
	h := plumbing.NewHash(in.SHA)
	if err := s.git.Storer.SetReference(plumbing.NewHashReference(name, h)); err != nil {
		return http.StatusInternalServerError, map[string]string{"message": err.Error()}
	}
	return http.StatusCreated, s.refJSON(r, in.Ref, h)
}

func (s *Server) branchHead(branch string) (plumbing.Hash, bool) {
	ref, err := s.git.Storer.Reference(plumbing.NewBranchReferenceName(branch))
	if err != nil || ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, false
	}
	return ref.Hash(), true
}

// headBranch strips an "owner:" prefix from a head; another owner is a
// fork, which this server does not hold.
func (s *Server) headBranch(head string) (string, bool) {
	if o, b, ok := strings.Cut(head, ":"); ok {
		return b, o == s.Owner
	}
	return head, true
}

func (s *Server) createPull(_ http.ResponseWriter, r *http.Request) (int, any) {
	if s.git == nil {
		return notFound()
	}
	var in struct {
		Title *string `json:"title"`
		Head  string  `json:"head"`
		Base  string  `json:"base"`
		Body  string  `json:"body"`
		Draft bool    `json:"draft"`
	}
	if !decode(r, &in) {
		return validation("Problems parsing JSON")
	}
	if in.Title == nil || *in.Title == "" {
		return validation("Validation Failed: title is missing")
	}
	if len([]rune(in.Body)) > MaxBodyChars {
		return validation(fmt.Sprintf("Validation Failed: body is too long (maximum is %d characters)", MaxBodyChars))
	}
	branch, ours := s.headBranch(in.Head)
	head, ok := s.branchHead(branch)
	if !ours || !ok {
		return validation("Validation Failed: head is invalid")
	}
	base, ok := s.branchHead(in.Base)
	if !ok {
		return validation("Validation Failed: base is invalid")
	}
	if hc, err := object.GetCommit(s.git.Storer, head); err != nil {
		return validation("Validation Failed: head is invalid")
	} else if bc, err := object.GetCommit(s.git.Storer, base); err != nil {
		return validation("Validation Failed: base is invalid")
	} else if behind, _ := hc.IsAncestor(bc); head == base || behind {
		return validation("Validation Failed: No commits between " + in.Base + " and " + branch)
	}
	for _, pr := range s.PRs {
		if pr.State == "open" && pr.HeadRef == branch && pr.BaseRef == in.Base {
			return validation(fmt.Sprintf("Validation Failed: A pull request already exists for %s:%s.", s.Owner, branch))
		}
	}
	n := 1
	for k := range s.PRs {
		n = max(n, k+1)
	}
	pr := &PR{Number: n, Author: BotLogin, HeadSHA: head.String(), HeadRef: branch, BaseRef: in.Base, State: "open",
		Title: *in.Title, Body: in.Body, Draft: in.Draft}
	s.PRs[n] = pr
	s.created = append(s.created, n)
	// GitHub keeps every pull request's head under refs/pull/N/head.
	_ = s.git.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(fmt.Sprintf("refs/pull/%d/head", n)), head))
	return http.StatusCreated, s.prJSON(r, pr)
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) (int, any) {
	q := r.URL.Query()
	state := q.Get("state")
	switch state {
	case "":
		state = "open"
	case "open", "closed", "all":
	default:
		return validation("Validation Failed: state")
	}
	var branch string
	if h := q.Get("head"); h != "" {
		b, ours := s.headBranch(h)
		if !ours {
			return http.StatusOK, []any{}
		}
		branch = b
	}
	var ns []int
	for n, pr := range s.PRs {
		if (state == "all" || pr.State == state) && (branch == "" || pr.HeadRef == branch) && (q.Get("base") == "" || pr.BaseRef == q.Get("base")) {
			ns = append(ns, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ns))) // newest first, as GitHub lists
	out := []map[string]any{}
	for _, n := range page(w, r, ns, s.PerPage) {
		out = append(out, s.prJSON(r, s.PRs[n]))
	}
	return http.StatusOK, out
}
