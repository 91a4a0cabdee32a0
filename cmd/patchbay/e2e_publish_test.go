package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/gitrepo"
	"github.com/patchbay/patchbay/engine/gitrepo/gitrepotest"
	"github.com/patchbay/patchbay/engine/store/storetest"
)

// e2ePostgres creates a schema for the test and returns a URL using it;
// it skips without PATCHBAY_TEST_POSTGRES.
func e2ePostgres(t *testing.T) string {
	t.Helper()
	return storetest.PostgresURL(t, "the two-server publishing test runs on PostgreSQL")
}

// served is one `patchbay serve` process.
type served struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan struct{}
}

func (s *served) ready(t *testing.T) api.Ready {
	t.Helper()
	var r api.Ready
	resp, err := http.Get(s.url + "/readyz")
	if err != nil {
		return r
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return r
}

// TestPublishEndToEnd is the production story with the real binary: two
// `patchbay serve --repo` processes on one PostgreSQL database against a
// smart-HTTP Git remote (git http-backend, basic auth); CI records its gate
// decision with `patchbay gate --record --push` from its own clone; the
// hosts are real patchbay-agent processes (see e2e_agent_test.go), each
// collecting its own root (--root) and installing through a strict
// apt-get pointed at that root; the leader is killed (SIGKILL)
// mid-rollout. The two token commands are records too (token.changed). At the end a fresh `git clone` and
// `patchbay audit verify --remote origin` pass, with one chain holding
// every record once.
func TestPublishEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two servers")
	}
	pg := e2ePostgres(t)
	srv := gitrepotest.NewServer(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "patchbay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The patch repository: the quickstart with canary on 2026-11 and no
	// soak, so that canary verifies within the test.
	g := gitrepotest.New(t)
	src, files := quickstartFiles(t)
	canary := strings.Replace(files["rings/canary.cue"], `"24h"`, `"0h"`, 1)
	files["rings/canary.cue"] = strings.Replace(canary, `baseline: "2026-11-hotfix-1"`, `baseline: "2026-11"`, 1)
	g.Commit("quickstart, canary on 2026-11", files)
	remote := srv.Publish(t, "patches", g)

	priv, pub, err := audit.GenerateKeyPair([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile, tokFile := filepath.Join(dir, "key.pem"), filepath.Join(dir, "pub.pem"), filepath.Join(dir, "git-token")
	for f, b := range map[string][]byte{keyFile: priv, pubFile: pub, tokFile: []byte(srv.Password + "\n")} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "PATCHBAY_KEY_PASSWORD=pw", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	run := func(wantOK bool, args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if wantOK && err != nil {
			t.Fatalf("patchbay %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String(), errOut.String()
	}
	adminOut, _ := run(true, "token", "create", "--admin", "--name", "ops", "--reason", "end-to-end test operator", "--db", pg)
	admin := strings.TrimSpace(adminOut)
	enrollOut, _ := run(true, "token", "create", "--enroll", "--uses", "20", "--reason", "end-to-end test fleet", "--db", pg)
	enroll := strings.TrimSpace(enrollOut)

	start := func(name string) *served {
		t.Helper()
		cmd := exec.Command(bin, "serve", "--repo", remote, "--git-username", srv.User, "--git-token-file", tokFile,
			"--signing-key", keyFile, "--db", pg, "--listen", "127.0.0.1:0", "--interval", "300ms", "--tick", "300ms", "--rate", "-1",
			"--cache-dir", filepath.Join(dir, "cache-"+name))
		cmd.Env = env
		s := &served{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
		pr, pw, _ := os.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		urlc := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(pr)
			re := regexp.MustCompile(`^patchbay serving .* on (http://\S+) `)
			for sc.Scan() {
				fmt.Fprintln(s.stderr, sc.Text())
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					urlc <- m[1]
				}
			}
		}()
		go func() { _ = cmd.Wait(); close(s.done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
		select {
		case s.url = <-urlc:
		case <-s.done:
			t.Fatalf("serve %s exited:\n%s", name, s.stderr.String())
		case <-time.After(2 * time.Minute):
			t.Fatalf("serve %s did not start:\n%s", name, s.stderr.String())
		}
		if strings.Contains(s.stderr.String(), srv.Password) {
			t.Errorf("serve %s logged the Git token", name)
		}
		return s
	}
	a, b := start("a"), start("b")
	waitUntil := func(what string, d time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\nserver a:\n%s\nserver b:\n%s", what, a.stderr.String(), b.stderr.String())
			}
		}
	}
	var leader, follower *served
	waitUntil("a leader", time.Minute, func() bool {
		ra, rb := a.ready(t), b.ready(t)
		switch {
		case ra.Publish != nil && ra.Publish.Leader:
			leader, follower = a, b
		case rb.Publish != nil && rb.Publish.Leader:
			leader, follower = b, a
		}
		return leader != nil
	})

	// Hosts are real patchbay-agent processes, each on its own root; they
	// enroll through the follower (any replica serves them).
	agentBin, fakeBin := buildAgent(t, dir)
	agentEnv := append(os.Environ(), "PATH="+fakeBin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var hosts []*agentHost
	for _, name := range []string{"deb12-canary-01", "deb12-canary-02", "ubuntu-canary-01"} {
		h := newAgentHost(t, dir, filepath.Join(src, "inventory"), name)
		cmd := exec.Command(agentBin, append([]string{"enroll", "--server", follower.url, "--token", enroll, "--host-id", name,
			"--label", "ring=canary"}, h.agentArgs()...)...)
		cmd.Env = agentEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("patchbay-agent enroll %s: %v\n%s", name, err, out)
		}
		hosts = append(hosts, h)
	}
	agentLogs := map[string]*syncBuffer{}
	startAgents := func() {
		for _, h := range hosts {
			cmd := exec.Command(agentBin, append([]string{"run"}, h.runArgs()...)...)
			cmd.Env = agentEnv
			buf := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = buf, buf
			agentLogs[h.id] = buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		}
	}
	defer func() {
		if t.Failed() {
			for id, b := range agentLogs {
				t.Logf("patchbay-agent %s:\n%s", id, b.String())
			}
		}
	}()

	// The pull request: CI gates it in its own clone and pushes the record.
	g.Git("checkout", "-q", "-b", "promote-canary", "main")
	prHead := g.Commit("promote 2026-11-hotfix-1 to canary", map[string]string{"rings/canary.cue": strings.Replace(files["rings/canary.cue"],
		`baseline: "2026-11"`, `baseline: "2026-11-hotfix-1"`, 1)})
	g.Git("checkout", "-q", "main")
	g.Git("push", "-q", srv.AuthURL(remote), "promote-canary")
	ci := filepath.Join(dir, "ci")
	if _, err := gitrepotest.RunGit(dir, 0, nil, "clone", "-q", srv.AuthURL(remote), ci); err != nil {
		t.Fatal(err)
	}
	if _, err := gitrepotest.RunGit(ci, 0, nil, "checkout", "-q", prHead); err != nil {
		t.Fatal(err)
	}
	prJSON := filepath.Join(dir, "pr.json")
	reviews := filepath.Join(dir, "reviews.json")
	_ = os.WriteFile(prJSON, []byte(fmt.Sprintf(`{"number":7,"author":"sre-platform","last_pusher":"sre-platform","labels":[],"head_sha":%q}`, prHead)), 0o644)
	_ = os.WriteFile(reviews, []byte(fmt.Sprintf(`[{"user":{"login":"sre-lead"},"state":"APPROVED","commit_id":%q,"submitted_at":%q}]`,
		prHead, time.Now().UTC().Format(time.RFC3339))), 0o644)
	_, gateErr := run(false, "gate", "-C", ci, "--base", "origin/main", "--head", prHead, "--pr", prJSON, "--reviews", reviews,
		"--record", "--key", keyFile, "--push", "origin")
	if !strings.Contains(gateErr, "recorded gate.decision") {
		t.Fatalf("CI gate did not record:\n%s", gateErr)
	}
	// The archive the hosts' apt-get installs from: the versions they run
	// and the fixed versions the baselines call for (from the plan of the
	// pull request's head, as `patchbay plan` prints it).
	planJSON, _ := run(false, "plan", "-C", ci, "--inventory", filepath.Join(src, "inventory"), "--ring", "canary", "--format", "json")
	for _, h := range hosts {
		h.writeArchive(t, []byte(planJSON))
	}
	// The agents start and report; the merge comes once every host has.
	startAgents()
	get := func(s *served, path string, v any) bool {
		req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(v) == nil
	}
	waitUntil("every agent's first report", time.Minute, func() bool {
		for _, h := range hosts {
			var hd api.HostDetail
			if !get(follower, "/api/v1/hosts/"+h.id, &hd) || hd.Host.LastReportAt == nil {
				return false
			}
		}
		return true
	})
	g.Git("merge", "-q", "--no-ff", "-m", "Merge pull request #7 from sre-platform/promote-canary", "promote-canary")
	g.Git("push", "-q", srv.AuthURL(remote), "main")
	mergeHash := g.Git("rev-parse", "main")

	// The rollout starts; its first wave's hosts start working; the
	// leader dies.
	id := "canary-" + mergeHash[:12]
	var ro api.Rollout
	waitUntil("the canary rollout's first wave at work", time.Minute, func() bool {
		return get(follower, "/api/v1/rollouts/"+id, &ro) && ro.Wave >= 1 && ro.Hosts.Running+ro.Hosts.Succeeded+ro.Hosts.Failed > 0
	})
	if ro.RingHosts != len(hosts) || ro.Hosts.Total == 0 {
		t.Fatalf("the ring has %d hosts and the rollout %d; want the %d agents and some work: %+v", ro.RingHosts, ro.Hosts.Total, len(hosts), ro)
	}
	if err := leader.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-leader.done
	killed := time.Now()
	waitUntil("the follower to lead", time.Minute, func() bool {
		r := follower.ready(t)
		return r.Publish != nil && r.Publish.Leader
	})
	t.Logf("takeover after %s", time.Since(killed).Round(time.Millisecond))
	waitUntil("canary verified and every record published", 2*time.Minute, func() bool {
		r := follower.ready(t)
		return get(follower, "/api/v1/rollouts/"+id, &ro) && ro.State == "verified" && r.Publish != nil && r.Publish.Backlog == 0
	})
	if ro.Hosts.Succeeded != ro.Hosts.Total {
		t.Errorf("rollout hosts: %+v, want all succeeded", ro.Hosts)
	}
	// The agents really installed: every host of the rollout ran one
	// apt-get install in its root, whose dpkg status now holds the
	// versions it asked for (the agent judged the step from it).
	installed := 0
	for _, h := range hosts {
		log, _ := os.ReadFile(filepath.Join(h.root, "apt.log"))
		t.Logf("%s apt-get calls:\n%s", h.id, log)
		if strings.Contains(string(log), "fake apt-get install") {
			installed++
		}
	}
	if installed != ro.Hosts.Total {
		t.Errorf("%d roots saw an apt-get install, want one per rollout host (%d)", installed, ro.Hosts.Total)
	}
	// The acknowledged head, once it has settled. The wait above reads the
	// backlog before the rollout, and the step to verified enqueues the
	// ring.verified record in between, so it can end with that record not
	// yet pushed; the head read with no backlog, the same twice in a row,
	// is past it.
	var head, last api.AuditHead
	waitUntil("the audit head settled", time.Minute, func() bool {
		last = head
		return get(follower, "/api/v1/audit/head", &head) && head.Seq > 0 && head.Backlog == 0 && head == last
	})

	// An auditor's fresh clone: git clone does not fetch notes, --remote does.
	fresh := filepath.Join(dir, "fresh")
	if _, err := gitrepotest.RunGit(dir, 0, nil, "clone", "-q", srv.AuthURL(remote), fresh); err != nil {
		t.Fatal(err)
	}
	out, errOut := run(false, "audit", "verify", "-C", fresh, "--key", pubFile, "--remote", "origin", "--expect-seq", fmt.Sprint(head.Seq))
	if !strings.Contains(out, "OK complete along main") {
		t.Fatalf("audit verify of a fresh clone:\n%s\n%s", out, errOut)
	}
	repo, err := gitrepo.Open(fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	log, err := audit.Read(context.Background(), repo)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[audit.Kind]int{}
	seen := map[string]bool{}
	for i, r := range log.Records {
		counts[r.Kind]++
		if r.Chain.Seq != int64(i+1) {
			t.Errorf("record %d has seq %d: not one chain", i+1, r.Chain.Seq)
		}
		p, _ := r.Decode()
		key := fmt.Sprintf("%s %s %+v", r.Kind, r.Commit, p)
		if seen[key] {
			t.Errorf("record %d written twice: %s", r.Chain.Seq, key)
		}
		seen[key] = true
	}
	for k, want := range map[audit.Kind]int{audit.KindGateDecision: 1, audit.KindChangeMerged: 1, audit.KindRolloutStarted: 1,
		audit.KindRolloutFinished: 1, audit.KindRingVerified: 1, audit.KindTokenChanged: 2} {
		if counts[k] != want {
			t.Errorf("%s records = %d, want %d (%v)", k, counts[k], want, counts)
		}
	}
	if log.Head.Seq != head.Seq {
		t.Errorf("fresh clone's head %d, server's acknowledged head %d", log.Head.Seq, head.Seq)
	}
	t.Logf("one chain of %d records: %v", len(log.Records), counts)
}
