package advisory_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/patchbay/patchbay/engine/advisory"
	"github.com/patchbay/patchbay/engine/internal/fixture"
)

// feedServer serves the real samples: the KEV catalogue as JSON, EPSS as
// .csv.gz and AlmaLinux OSV records as an all.zip, with ETags. truncate
// makes it announce more bytes than it sends.
type feedServer struct {
	files    map[string][]byte
	truncate atomic.Bool
	hits304  atomic.Int32
}

func newFeedServer(t *testing.T) (*feedServer, *httptest.Server) {
	t.Helper()
	fs := &feedServer{files: map[string][]byte{}}
	read := func(rel string) []byte {
		b, err := os.ReadFile(fixture.Shared(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fs.files["/kev.json"] = read("advisories/kev/known_exploited_vulnerabilities.json")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(read("vulndata/epss/epss_scores-2026-09-29.SAMPLE.csv"))
	zw.Close()
	fs.files["/epss_scores-current.csv.gz"] = gz.Bytes()
	var zb bytes.Buffer
	z := zip.NewWriter(&zb)
	matches, _ := filepath.Glob(fixture.Shared(t, "advisories/redhat/almalinux-osv/almalinux9") + "/*.json")
	for _, m := range matches {
		w, _ := z.Create(filepath.Base(m))
		w.Write(read("advisories/redhat/almalinux-osv/almalinux9/" + filepath.Base(m)))
	}
	z.Close()
	fs.files["/AlmaLinux/all.zip"] = zb.Bytes()
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	return fs, srv
}

func (fs *feedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := fs.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := `"` + strconv.Itoa(len(b)) + `"`
	if r.Header.Get("If-None-Match") == etag {
		fs.hits304.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if fs.truncate.Load() {
		w.Write(b[:len(b)/2])
		return // the connection closes short of Content-Length
	}
	w.Write(b)
}

func TestSync(t *testing.T) {
	fs, srv := newFeedServer(t)
	dir := t.TempDir()
	srcs := advisory.Sources(map[string][]string{"rhel-9": {srv.URL + "/AlmaLinux/all.zip"}}, srv.URL+"/kev.json", srv.URL+"/epss_scores-current.csv.gz")
	var progress int
	opts := advisory.SyncOptions{Client: srv.Client(), Progress: func(string, int64, int64) { progress++ }}
	res, err := advisory.Sync(context.Background(), dir, srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != "updated" {
			t.Errorf("first sync %s: %s", r.Name, r.Status)
		}
	}
	if progress == 0 {
		t.Error("no progress reported")
	}
	db, err := advisory.LoadDir(context.Background(), dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if db.KEV == nil || len(db.KEV.Entries) != 1404 || db.EPSS == nil || len(db.EPSS.Scores) != 60 || len(db.Advisories) < 40 {
		t.Fatalf("cache holds %d advisories, kev %v, epss %v", len(db.Advisories), db.KEV != nil, db.EPSS != nil)
	}

	// Second sync: conditional requests, nothing downloaded.
	res, err = advisory.Sync(context.Background(), dir, srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != "not-modified" {
			t.Errorf("second sync %s: %s", r.Name, r.Status)
		}
	}
	if fs.hits304.Load() != 3 {
		t.Errorf("304 answers: %d, want 3", fs.hits304.Load())
	}

	// A truncated download of a changed file leaves the previous copy.
	kevPath := filepath.Join(dir, "kev", "kev.json")
	before, _ := os.ReadFile(kevPath)
	fs.files["/kev.json"] = append(append([]byte{}, fs.files["/kev.json"]...), ' ') // new ETag
	fs.truncate.Store(true)
	_, err = advisory.Sync(context.Background(), dir, srcs[1:2], opts)
	if !errors.Is(err, advisory.ErrFetch) {
		t.Fatalf("truncated download: got %v, want ErrFetch", err)
	}
	after, _ := os.ReadFile(kevPath)
	if !bytes.Equal(before, after) {
		t.Fatal("a truncated download replaced the cached KEV catalogue")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "kev", ".*part"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// A complete download that does not parse is refused the same way.
	fs.truncate.Store(false)
	fs.files["/kev.json"] = []byte(`{"title": "x", "catalogVersion": "1", "vulnerabilities": [{"cveID": "nope"}]}`)
	if _, err := advisory.Sync(context.Background(), dir, srcs[1:2], opts); !errors.Is(err, advisory.ErrMalformed) {
		t.Fatalf("malformed download: got %v", err)
	}
	after, _ = os.ReadFile(kevPath)
	if !bytes.Equal(before, after) {
		t.Fatal("a malformed download replaced the cached KEV catalogue")
	}
}

func TestImportRecognisesContent(t *testing.T) {
	dir := t.TempDir()
	res, err := advisory.Import(context.Background(), dir, fixture.Shared(t, "advisories/alpine/vuln-list/alpine/3.20/main"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 17 {
		t.Errorf("imported %d files, want 17", len(res))
	}
	if _, err := advisory.Import(context.Background(), dir, fixture.Shared(t, "advisories/redhat/vunnel-fixtures/csaf/rhsa-2024_6163.json")); !errors.Is(err, advisory.ErrUnknownFormat) {
		t.Errorf("CSAF: got %v, want ErrUnknownFormat", err)
	}
}
