// Package githubtest is a GitHub REST API test server for the endpoints
// patchbay uses: pull requests (read, list, open), reviews, issue
// comments, check runs, commit statuses, collaborator permissions, App
// installation tokens, and the Git Data API (refs, blobs, trees, commits)
// backed by a real Git repository (see [Server.ServeGit]).
// It answers with the JSON shapes go-github decodes, paginates with Link
// headers like GitHub, checks the Authorization of every request, and
// verifies App JWTs (RS256) against the App's public key.
//
// It is for tests only; it must not import other patchbay packages.
package githubtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
)

// Prefix is the API path prefix: the server poses as GitHub Enterprise
// Server, whose REST API lives under /api/v3/.
const Prefix = "/api/v3"

// PR is a pull request held by the server.
type PR struct {
	Number         int
	Author         string
	HeadSHA        string
	BaseRef        string
	State          string // "open" or "closed"
	Merged         bool
	MergeCommitSHA string
	Labels         []string
	// HeadRef is the head branch; empty shows as "pr-N".
	HeadRef string
	// Title, Body and Draft are set for pull requests opened through the
	// API.
	Title, Body string
	Draft       bool
}

// Review is a pull request review.
type Review struct {
	ID          int64
	User        string
	State       string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	CommitID    string
	SubmittedAt time.Time
}

// Comment is an issue comment.
type Comment struct {
	ID    int64
	Issue int
	User  string
	Body  string
	// Edits counts the PATCHes of this comment.
	Edits int
}

// CommitUsers are the GitHub accounts linked to a commit.
type CommitUsers struct {
	Author, Committer string
}

// SetCommit records the GitHub logins of a commit's author and committer.
func (s *Server) SetCommit(sha, author, committer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Commits[sha] = CommitUsers{Author: author, Committer: committer}
}

// CheckRun is a created check run.
type CheckRun struct {
	Name, HeadSHA, Status, Conclusion, Title, Summary string
}

// Status is a created commit status.
type Status struct {
	SHA, State, Context, Description string
}

// Server is the fake GitHub API. Its fields may be changed between
// requests under Lock/Unlock (or through the helper methods).
type Server struct {
	*httptest.Server
	// Owner and Repo is the one repository served.
	Owner, Repo string
	// Token is a static token accepted for every request (GITHUB_TOKEN).
	Token string
	// AppID, InstallationID and AppKey enable App authentication: a JWT
	// signed by AppKey's private key is exchanged for an installation
	// token.
	AppID          int64
	InstallationID int64
	AppKey         *rsa.PublicKey
	// TokenTTL is how long installation tokens live; 0 means one hour.
	TokenTTL time.Duration
	// Now is the clock for token expiry and JWT checks.
	Now func() time.Time
	// PerPage, when set, caps the page size of lists (to test paging).
	PerPage int
	// Commits maps a commit SHA to the GitHub logins of its author and
	// committer; an unknown commit is 422, as GitHub answers.
	Commits map[string]CommitUsers

	mu          sync.Mutex
	PRs         map[int]*PR
	Reviews     map[int][]Review
	Comments    []*Comment
	CheckRuns   []CheckRun
	Statuses    []Status
	Permissions map[string]string
	// TokensIssued counts installation tokens minted.
	TokensIssued int
	// Requests counts requests per "METHOD route".
	Requests map[string]int
	// Unauthorized counts requests refused for their Authorization.
	Unauthorized int
	tokens       map[string]time.Time
	nextID       int64
	// git backs the Git Data API (see ServeGit); created lists the pull
	// requests opened through the API.
	git     *git.Repository
	created []int
}

// New starts a server for owner/repo; it is closed when the test ends.
func New(t testing.TB, owner, repo string) *Server {
	s := &Server{Owner: owner, Repo: repo, PRs: map[int]*PR{}, Reviews: map[int][]Review{}, Permissions: map[string]string{},
		Requests: map[string]int{}, Commits: map[string]CommitUsers{}, tokens: map[string]time.Time{}, nextID: 1000, Now: time.Now}
	s.Server = httptest.NewServer(s.routes())
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to give clients (Enterprise style).
func (s *Server) APIURL() string { return s.URL + Prefix + "/" }

// Lock locks the state.
func (s *Server) Lock() { s.mu.Lock() }

// Unlock unlocks the state.
func (s *Server) Unlock() { s.mu.Unlock() }

// SetPR adds or replaces a pull request.
func (s *Server) SetPR(pr PR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.State == "" {
		pr.State = "open"
	}
	s.PRs[pr.Number] = &pr
}

// AddReview adds a review to pull request n.
func (s *Server) AddReview(n int, r Review) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	r.ID = s.nextID
	s.Reviews[n] = append(s.Reviews[n], r)
}

// AddComment adds a comment (e.g. someone else's) to issue n.
func (s *Server) AddComment(n int, user, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.Comments = append(s.Comments, &Comment{ID: s.nextID, Issue: n, User: user, Body: body})
}

// CommentsOn returns copies of issue n's comments.
func (s *Server) CommentsOn(n int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range s.Comments {
		if c.Issue == n {
			out = append(out, *c)
		}
	}
	return out
}

// Checks returns copies of the check runs created.
func (s *Server) Checks() []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CheckRun(nil), s.CheckRuns...)
}

// CommitStatuses returns copies of the statuses created.
func (s *Server) CommitStatuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.Statuses...)
}

// Count returns how many requests a route ("GET /repos/{owner}/{repo}/pulls/{n}/reviews") got.
func (s *Server) Count(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Requests[route]
}

type handler func(w http.ResponseWriter, r *http.Request) (int, any)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	repo := "/repos/{owner}/{repo}"
	add := func(method, path string, h handler, app bool) {
		route := method + " " + path
		mux.HandleFunc(method+" "+Prefix+path, func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.Requests[route]++
			if !s.authorized(r, app) {
				s.Unauthorized++
				writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
				return
			}
			if !app && (r.PathValue("owner") != s.Owner || r.PathValue("repo") != s.Repo) {
				writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
				return
			}
			code, v := h(w, r)
			writeJSON(w, code, v)
		})
	}
	add("POST", "/app/installations/{id}/access_tokens", s.accessToken, true)
	add("GET", repo+"/pulls/{n}", s.getPR, false)
	add("GET", repo+"/pulls/{n}/reviews", s.listReviews, false)
	add("GET", repo+"/issues/{n}/comments", s.listComments, false)
	add("POST", repo+"/issues/{n}/comments", s.createComment, false)
	add("PATCH", repo+"/issues/comments/{id}", s.editComment, false)
	add("POST", repo+"/check-runs", s.createCheckRun, false)
	add("POST", repo+"/statuses/{sha}", s.createStatus, false)
	add("GET", repo+"/collaborators/{user}/permission", s.permission, false)
	add("GET", repo+"/commits/{sha}", s.getCommit, false)
	add("GET", repo+"/git/ref/{ref...}", s.getRef, false)
	add("POST", repo+"/git/refs", s.createRef, false)
	add("POST", repo+"/git/blobs", s.createBlob, false)
	add("POST", repo+"/git/trees", s.createTree, false)
	add("POST", repo+"/git/commits", s.createCommit, false)
	add("GET", repo+"/git/commits/{sha}", s.getGitCommit, false)
	add("POST", repo+"/pulls", s.createPull, false)
	add("GET", repo+"/pulls", s.listPulls, false)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// authorized checks the bearer: a valid App JWT for the token endpoint,
// otherwise the static token or an unexpired installation token.
func (s *Server) authorized(r *http.Request, app bool) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "token ")
	}
	if !ok || tok == "" {
		return false
	}
	if app {
		return s.validJWT(tok)
	}
	if s.Token != "" && tok == s.Token {
		return true
	}
	exp, ok := s.tokens[tok]
	return ok && s.Now().Before(exp)
}

func (s *Server) validJWT(tok string) bool {
	if s.AppKey == nil {
		return false
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	enc := base64.RawURLEncoding
	var header struct{ Alg, Typ string }
	var claims struct {
		IAT, EXP int64
		ISS      string
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if header.Alg != "RS256" || rsa.VerifyPKCS1v15(s.AppKey, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	now := s.Now().Unix()
	return claims.ISS == strconv.FormatInt(s.AppID, 10) && claims.IAT <= now+60 && now < claims.EXP && claims.EXP-claims.IAT <= 600+60
}

func (s *Server) accessToken(_ http.ResponseWriter, r *http.Request) (int, any) {
	if r.PathValue("id") != strconv.FormatInt(s.InstallationID, 10) {
		return http.StatusNotFound, map[string]string{"message": "Not Found"}
	}
	s.TokensIssued++
	tok := fmt.Sprintf("ghs_test%06d", s.TokensIssued)
	ttl := s.TokenTTL
	if ttl == 0 {
		ttl = time.Hour
	}
	exp := s.Now().Add(ttl)
	s.tokens[tok] = exp
	return http.StatusCreated, map[string]any{"token": tok, "expires_at": exp.UTC().Format(time.RFC3339)}
}

func (s *Server) number(r *http.Request) int {
	n, _ := strconv.Atoi(r.PathValue("n"))
	return n
}

func user(login string) map[string]any {
	return map[string]any{"login": login, "id": len(login), "type": "User"}
}

func (s *Server) prJSON(r *http.Request, pr *PR) map[string]any {
	headRef := pr.HeadRef
	if headRef == "" {
		headRef = fmt.Sprintf("pr-%d", pr.Number)
	}
	labels := []map[string]any{}
	for _, l := range pr.Labels {
		labels = append(labels, map[string]any{"name": l})
	}
	v := map[string]any{
		"number": pr.Number, "state": pr.State, "user": user(pr.Author), "labels": labels, "merged": pr.Merged,
		"head":  map[string]any{"sha": pr.HeadSHA, "ref": headRef},
		"base":  map[string]any{"ref": pr.BaseRef},
		"title": pr.Title, "body": pr.Body, "draft": pr.Draft,
		"html_url": fmt.Sprintf("http://%s/%s/%s/pull/%d", r.Host, s.Owner, s.Repo, pr.Number),
	}
	if pr.MergeCommitSHA != "" {
		v["merge_commit_sha"] = pr.MergeCommitSHA
	}
	return v
}

func (s *Server) getPR(_ http.ResponseWriter, r *http.Request) (int, any) {
	pr := s.PRs[s.number(r)]
	if pr == nil {
		return http.StatusNotFound, map[string]string{"message": "Not Found"}
	}
	return http.StatusOK, s.prJSON(r, pr)
}

// page cuts items by the request's page and per_page and sets the Link
// header as GitHub does.
func page[T any](w http.ResponseWriter, r *http.Request, items []T, maxPer int) []T {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 || per > 100 {
		per = 30
	}
	if maxPer > 0 {
		per = min(per, maxPer)
	}
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	if p <= 0 {
		p = 1
	}
	from := min((p-1)*per, len(items))
	to := min(from+per, len(items))
	if to < len(items) {
		u := *r.URL
		q := u.Query()
		q.Set("page", strconv.Itoa(p+1))
		q.Set("per_page", strconv.Itoa(per))
		u.RawQuery = q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<http://%s%s>; rel="next"`, r.Host, u.String()))
	}
	return items[from:to]
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) (int, any) {
	out := []map[string]any{}
	for _, rv := range page(w, r, s.Reviews[s.number(r)], s.PerPage) {
		out = append(out, map[string]any{"id": rv.ID, "user": user(rv.User), "state": rv.State, "commit_id": rv.CommitID,
			"submitted_at": rv.SubmittedAt.UTC().Format(time.RFC3339)})
	}
	return http.StatusOK, out
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	return map[string]any{"id": c.ID, "user": user(c.User), "body": c.Body}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) (int, any) {
	var on []*Comment
	for _, c := range s.Comments {
		if c.Issue == s.number(r) {
			on = append(on, c)
		}
	}
	out := []map[string]any{}
	for _, c := range page(w, r, on, s.PerPage) {
		out = append(out, s.commentJSON(c))
	}
	return http.StatusOK, out
}

func decode(r *http.Request, v any) bool {
	return json.NewDecoder(r.Body).Decode(v) == nil
}

func (s *Server) createComment(_ http.ResponseWriter, r *http.Request) (int, any) {
	var in struct{ Body string }
	if !decode(r, &in) || in.Body == "" {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"}
	}
	if s.PRs[s.number(r)] == nil {
		return http.StatusNotFound, map[string]string{"message": "Not Found"}
	}
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: s.number(r), User: "patchbay[bot]", Body: in.Body}
	s.Comments = append(s.Comments, c)
	return http.StatusCreated, s.commentJSON(c)
}

func (s *Server) editComment(_ http.ResponseWriter, r *http.Request) (int, any) {
	var in struct{ Body string }
	if !decode(r, &in) || in.Body == "" {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"}
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	for _, c := range s.Comments {
		if c.ID == id {
			c.Body = in.Body
			c.Edits++
			return http.StatusOK, s.commentJSON(c)
		}
	}
	return http.StatusNotFound, map[string]string{"message": "Not Found"}
}

func (s *Server) createCheckRun(_ http.ResponseWriter, r *http.Request) (int, any) {
	var in struct {
		Name, HeadSHA, Status, Conclusion string
		Output                            struct{ Title, Summary string }
	}
	var raw map[string]json.RawMessage
	if !decode(r, &raw) {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Problems parsing JSON"}
	}
	_ = json.Unmarshal(raw["name"], &in.Name)
	_ = json.Unmarshal(raw["head_sha"], &in.HeadSHA)
	_ = json.Unmarshal(raw["status"], &in.Status)
	_ = json.Unmarshal(raw["conclusion"], &in.Conclusion)
	_ = json.Unmarshal(raw["output"], &in.Output)
	if in.Name == "" || in.HeadSHA == "" || len(in.Output.Summary) > 65535 {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed"}
	}
	switch in.Conclusion {
	case "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required", "":
	default:
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed: conclusion"}
	}
	s.CheckRuns = append(s.CheckRuns, CheckRun{Name: in.Name, HeadSHA: in.HeadSHA, Status: in.Status, Conclusion: in.Conclusion, Title: in.Output.Title, Summary: in.Output.Summary})
	s.nextID++
	return http.StatusCreated, map[string]any{"id": s.nextID, "name": in.Name, "head_sha": in.HeadSHA, "status": in.Status, "conclusion": in.Conclusion}
}

func (s *Server) createStatus(_ http.ResponseWriter, r *http.Request) (int, any) {
	var in struct{ State, Context, Description string }
	if !decode(r, &in) {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Problems parsing JSON"}
	}
	switch in.State {
	case "error", "failure", "pending", "success":
	default:
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed: state"}
	}
	if len(in.Description) > 140 {
		return http.StatusUnprocessableEntity, map[string]string{"message": "Validation Failed: description is too long"}
	}
	s.Statuses = append(s.Statuses, Status{SHA: r.PathValue("sha"), State: in.State, Context: in.Context, Description: in.Description})
	s.nextID++
	return http.StatusCreated, map[string]any{"id": s.nextID, "state": in.State, "context": in.Context, "description": in.Description}
}

func (s *Server) permission(_ http.ResponseWriter, r *http.Request) (int, any) {
	u := r.PathValue("user")
	p, ok := s.Permissions[u]
	if !ok {
		return http.StatusNotFound, map[string]string{"message": "Not Found"}
	}
	return http.StatusOK, map[string]any{"permission": p, "user": user(u)}
}

func (s *Server) getCommit(_ http.ResponseWriter, r *http.Request) (int, any) {
	sha := r.PathValue("sha")
	c, ok := s.Commits[sha]
	if !ok {
		return http.StatusUnprocessableEntity, map[string]string{"message": "No commit found for SHA: " + sha}
	}
	v := map[string]any{"sha": sha, "commit": map[string]any{"message": "commit"}}
	if c.Author != "" {
		v["author"] = user(c.Author)
	}
	if c.Committer != "" {
		v["committer"] = user(c.Committer)
	}
	return http.StatusOK, v
}
