package server_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/server"
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

// TestDashboardSession: the cookie holds a session id, never the admin
// token; the cookie is Secure behind a trusted TLS proxy (and only then);
// sign-out ends the session on the server, so a copy of the cookie no
// longer works.
func TestDashboardSession(t *testing.T) {
	for _, trust := range []bool{false, true} {
		e := newEnv(t, func(c *server.Config) { c.TrustForwardedProto = trust })
		e.srv.EnableDashboard(nil)
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader(url.Values{"token": {e.adminTok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "patchbay_session" {
				cookie = c
			}
		}
		if cookie == nil || cookie.Value == "" {
			t.Fatalf("no session cookie: %v", resp.Cookies())
		}
		if strings.Contains(cookie.Value, e.adminTok) || strings.Contains(resp.Header.Get("Set-Cookie"), e.adminTok) {
			t.Fatalf("the cookie holds the admin token: %q", resp.Header.Get("Set-Cookie"))
		}
		if cookie.Secure != trust {
			t.Errorf("trusted proxy %t: Secure = %t", trust, cookie.Secure)
		}
		if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict", cookie)
		}
		get := func() string {
			r, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
			r.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
			resp, err := noRedirect.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if !strings.Contains(get(), `action="/logout"`) {
			t.Fatal("the session does not sign in")
		}
		out, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/logout", nil)
		out.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		if resp, err = noRedirect.Do(out); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if strings.Contains(get(), `action="/logout"`) {
			t.Fatal("the session survived sign-out")
		}
	}
}
