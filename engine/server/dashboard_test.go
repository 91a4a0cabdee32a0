package server_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// TestDashboard: the dashboard asks for an admin token, refuses a wrong
// one, and after sign-in shows the fleet's rings from the plan.
func TestDashboard(t *testing.T) {
	e := newEnv(t)
	e.srv.EnableDashboard(nil)
	admin := e.adminTok
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func() (int, string) {
		resp, err := c.Get(e.ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusOK || !strings.Contains(body, `action="/login"`) {
		t.Fatalf("before sign-in: %d %q", code, body)
	}
	resp, err := c.PostForm(e.ts.URL+"/login", url.Values{"token": {"not-a-token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	if code, body := get(); strings.Contains(body, "Rings") || code != http.StatusOK {
		t.Fatalf("a wrong token signed in: %d", code)
	}
	resp, err = c.PostForm(e.ts.URL+"/login", url.Values{"token": {admin}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, body := get()
	if code != http.StatusOK {
		t.Fatalf("after sign-in: %d", code)
	}
	for _, want := range []string{"<h2>Rings ", ">canary<", ">pilot<", ">prod<", "SLA breaches"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	// Not an API route: unknown paths are still the API's JSON 404.
	r2, err := c.Get(e.ts.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusNotFound || !strings.HasPrefix(r2.Header.Get("Content-Type"), "application/json") {
		t.Errorf("/nope: %d %s", r2.StatusCode, r2.Header.Get("Content-Type"))
	}
}
