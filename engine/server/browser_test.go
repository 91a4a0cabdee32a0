package server_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// screenshotsEnv names a directory where TestBrowser keeps its
// screenshots (the README's come from there); without it they go to the
// test's temporary directory.
const screenshotsEnv = "PATCHBAY_SCREENSHOTS"

func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install chromium; .ci/run installs it): skipping the browser test")
	return ""
}

// seedBrowserData adds what the pages link to: a rollout with the host
// deb12-canary-01 in it and its records in the store, and 30 days of
// roll-ups computed from the real fleet plan.
func seedBrowserData(t *testing.T, e *env) {
	ctx := context.Background()
	fence, _, err := e.st.AcquireLease(ctx, "controller", "browser-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := store.Fence{Lease: "controller", Holder: "browser-test", Fencing: fence}
	if _, err := e.st.Apply(ctx, f, store.RolloutChange{
		Creates:     []store.Rollout{{ID: "ro-canary-1", Ring: "canary", Commit: "0123456789abcdef", BaselineID: "2026-11", BaselineDigest: "sha256:aa", State: "running"}},
		NewProgress: []store.RolloutProgress{{RolloutID: "ro-canary-1", HostsTotal: 1, Detail: []byte("{}")}},
		Hosts:       []store.RolloutHost{{RolloutID: "ro-canary-1", HostID: "deb12-canary-01", Actions: 1, State: "pending"}},
		Events: []store.RolloutEvent{
			{RolloutID: "ro-canary-1", Kind: "rollout.started", Payload: []byte(`{"pr":42,"approvers":["sre-lead"]}`), Actor: "controller", At: testNow.Add(-time.Hour)},
			{RolloutID: "ro-canary-1", Kind: "rollout.wave", Payload: []byte(`{"wave":1}`), Actor: "controller", At: testNow.Add(-30 * time.Minute)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Apply(ctx, f, store.RolloutChange{Waves: []store.WaveStart{{RolloutID: "ro-canary-1", Wave: 1, N: 1, From: "pending", To: "running", At: testNow.Add(-30 * time.Minute)}}}); err != nil {
		t.Fatal(err)
	}
	p, err := e.srv.FleetPlan(ctx, planOptions())
	if err != nil {
		t.Fatal(err)
	}
	var rus []store.Rollup
	for d := 30; d >= 0; d-- {
		rus = append(rus, history.Rollups(p, []string{"canary", "pilot", "prod"}, testNow.AddDate(0, 0, -d))...)
	}
	if err := e.st.PutRollups(ctx, rus); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RollupHistory(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBrowser drives the dashboard in a real headless Chromium: sign in,
// open every page, follow overview → ring → host → rollout → audit record,
// search hosts, download a CSV; no page may log a console error (CSP
// violations included) or carry a broken link. Screenshots of every page
// are saved.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the browser test")
	}
	chrome := findChromium(t)
	e, viewer := dashEnv(t)
	seedBrowserData(t, e)
	shots := os.Getenv(screenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	downloads := t.TempDir()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun, chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	var mu sync.Mutex
	var consoleErrs []string
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			consoleErrs = append(consoleErrs, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				consoleErrs = append(consoleErrs, "console.error")
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.LevelError {
				consoleErrs = append(consoleErrs, ev.Entry.Source.String()+": "+ev.Entry.Text+" "+ev.Entry.URL)
			}
		}
	})
	base := e.ts.URL
	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		var png []byte
		run("screenshot "+name, chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var loc, text, target string

	// Sign in with the viewer token through the form.
	run("sign in", cdplog.Enable(), runtime.Enable(),
		cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllow).WithDownloadPath(downloads),
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(`input[name=token]`),
		chromedp.SendKeys(`input[name=token]`, "viewer-token-for-tests"), chromedp.Submit(`input[name=token]`),
		chromedp.WaitVisible(`nav`), chromedp.Text(`h1`, &text))
	if !strings.Contains(text, "Fleet compliance") {
		t.Fatalf("after sign-in: h1 %q", text)
	}
	shot("overview")

	// overview → ring → host → rollout → audit record, by clicking.
	run("to ring", chromedp.Click(`a[href="/rings/canary"]`), chromedp.WaitVisible(`form.filters`), chromedp.Location(&loc))
	if !strings.HasSuffix(loc, "/rings/canary") {
		t.Fatalf("ring link went to %s", loc)
	}
	shot("ring")
	run("to host", chromedp.Click(`a[href="/hosts/deb12-canary-01"]`), chromedp.WaitVisible(`h1`), chromedp.Text(`h1`, &text))
	if !strings.Contains(text, "deb12-canary-01") {
		t.Fatalf("host page h1 %q", text)
	}
	shot("host")
	run("to rollout", chromedp.Click(`a[href="/rollouts/ro-canary-1"]`), chromedp.WaitVisible(`h1`), chromedp.Text(`h1`, &text))
	if !strings.Contains(text, "ro-canary-1") {
		t.Fatalf("rollout page h1 %q", text)
	}
	shot("rollout")
	// The change that started it, from the Git audit trail: approvers
	// visible, and the gate decision's record one click away.
	var approvals, gate string
	run("trail tables", chromedp.Text(`main`, &approvals, chromedp.ByQuery), chromedp.Text(`a[href="/audit/records/`+e.trail.head+`/1"]`, &gate, chromedp.ByQuery))
	for _, want := range []string{"sre-lead", "security-oncall", "Approvals that counted", "Gate decision", "ring.window.outside", "verified: key server", "#42"} {
		if !strings.Contains(approvals, want) {
			t.Errorf("rollout page lacks %q", want)
		}
	}
	run("to gate record", chromedp.Click(`a[href="/audit/records/`+e.trail.head+`/1"]`, chromedp.ByQuery), chromedp.WaitVisible(`pre.record`), chromedp.Text(`h1`, &text),
		chromedp.Text(`main`, &target, chromedp.ByQuery), chromedp.Location(&loc))
	if !strings.Contains(text, "gate.decision") || !strings.Contains(target, `"result": "pass"`) || !strings.Contains(target, "verified: key server") ||
		!strings.HasSuffix(loc, "/audit/records/"+e.trail.head+"/1") {
		t.Errorf("gate record page at %s: h1 %q\n%.1500s", loc, text, target)
	}
	shot("audit-record")
	run("back to rollout", chromedp.Navigate(base+"/rollouts/ro-canary-1"), chromedp.WaitVisible(`h1`))
	run("to audit record", chromedp.Click(`a[href^="/audit#ev-"]`), chromedp.WaitVisible(`tr[id^="ev-"]`), chromedp.Location(&loc))
	if !regexp.MustCompile(`/audit#ev-\d+$`).MatchString(loc) {
		t.Fatalf("record link went to %s", loc)
	}
	run("record row", chromedp.Text(`tr[id="`+loc[strings.Index(loc, "#")+1:]+`"]`, &target, chromedp.ByQuery))
	if !strings.Contains(target, "rollout.") {
		t.Errorf("the linked record row says %q", target)
	}
	shot("audit")

	// Host search.
	var rows int
	run("search", chromedp.Navigate(base+"/hosts"), chromedp.WaitVisible(`input[name=q]`),
		chromedp.SendKeys(`input[name=q]`, "deb12-canary"), chromedp.Submit(`input[name=q]`),
		chromedp.WaitVisible(`input[name=q][value="deb12-canary"]`), chromedp.WaitVisible(`table`), chromedp.Evaluate(`document.querySelectorAll("main table tbody tr").length`, &rows), chromedp.Location(&loc))
	if rows != 2 || !strings.Contains(loc, "q=deb12-canary") {
		t.Errorf("search deb12-canary: %d rows at %s, want 2", rows, loc)
	}
	shot("hosts")

	// The remaining pages.
	for _, p := range []string{"exceptions", "rollouts"} {
		run(p, chromedp.Navigate(base+"/"+p), chromedp.WaitVisible(`h1`))
		shot(p)
	}

	// CSV download.
	run("csv", chromedp.Navigate(base+"/hosts"), chromedp.WaitVisible(`a.csv`), chromedp.Click(`a.csv`))
	var csv []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(downloads, "patchbay-hosts.csv")); err == nil && len(b) > 0 {
			csv = b
			break
		}
	}
	if !strings.HasPrefix(string(csv), "Host,Hostname,Ring") || strings.Count(string(csv), "\n") != 6 {
		t.Errorf("downloaded CSV:\n%s", csv)
	}

	// No broken link on any page: every href answers 200 to the viewer.
	for _, p := range []string{"/", "/hosts", "/rings/canary", "/hosts/deb12-canary-01", "/rollouts", "/rollouts/ro-canary-1", "/exceptions", "/audit",
		"/audit/records/" + e.trail.head + "/1", "/audit/records/" + e.trail.merge + "/1"} {
		var hrefs []string
		run("links of "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(`h1`),
			chromedp.Evaluate(`Array.from(document.querySelectorAll("a[href]")).map(a => a.href)`, &hrefs))
		for _, h := range hrefs {
			if !strings.HasPrefix(h, base) {
				t.Errorf("%s links outside the dashboard: %s", p, h)
				continue
			}
			if code, _, _ := viewer.get(strings.TrimPrefix(strings.SplitN(h, "#", 2)[0], base)); code != http.StatusOK {
				t.Errorf("%s: broken link %s (%d)", p, h, code)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(consoleErrs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(consoleErrs, "\n"))
	}
	t.Logf("screenshots in %s", shots)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Error("browser test timed out")
	}
}

func planOptions() plan.Options { return plan.Options{} }
