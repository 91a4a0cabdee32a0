package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// noModels is a ModelSource with no model loaded.
type noModels struct{}

func (noModels) Status() (*Model, error) { return nil, nil }

func TestMountGitHubWebhook(t *testing.T) {
	s, err := New(Config{Store: storetest.New(t, store.Options{}), Models: noModels{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	post := func() int {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader("{}")))
		return rec.Code
	}
	if code := post(); code != http.StatusNotFound {
		t.Fatalf("before mounting: %d, want 404", code)
	}
	s.MountGitHubWebhook(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if code := post(); code != http.StatusTeapot {
		t.Fatalf("after mounting: %d, want the handler's 418", code)
	}
	found := false
	for _, r := range s.Routes() {
		found = found || (r.Method == "POST" && r.Pattern == WebhookPath)
	}
	if !found {
		t.Fatal("the webhook route is not listed in Routes")
	}
}
