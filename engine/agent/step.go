package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/vercmp"
)

// inflight is the marker written just before a transaction.
type inflight struct {
	Actions        []api.Action `json:"actions"`
	BaselineDigest string       `json:"baselineDigest"`
	// RolloutID and HeartbeatSeconds let the recovery heartbeat.
	RolloutID        string `json:"rolloutId,omitempty"`
	HeartbeatSeconds int    `json:"heartbeatSeconds,omitempty"`
	Rollback         string `json:"rollback,omitempty"`
	// Pre is every package's version before the transaction.
	Pre       map[string]string `json:"pre"`
	StartedAt time.Time         `json:"startedAt"`
}

// rebooting is the marker written just before the reboot command.
type rebooting struct {
	Action         api.Action `json:"action"`
	BaselineDigest string     `json:"baselineDigest"`
	// RolloutID and HeartbeatSeconds let the agent heartbeat after the
	// restart.
	RolloutID        string            `json:"rolloutId,omitempty"`
	HeartbeatSeconds int               `json:"heartbeatSeconds,omitempty"`
	BootID           string            `json:"bootId"`
	Rollback         string            `json:"rollback,omitempty"`
	Pre              map[string]string `json:"pre,omitempty"`
	At               time.Time         `json:"at"`
}

// stepResult is an action's outcome as it is being decided.
type stepResult struct {
	act    api.Action
	start  time.Time
	end    time.Time
	ok     bool
	detail string
}

func (a *Agent) healthTimeout() (time.Duration, time.Duration) {
	t, p := a.HealthTimeout, a.HealthPoll
	if t <= 0 {
		t = time.Minute
	}
	if p <= 0 {
		p = 2 * time.Second
	}
	return t, p
}

func versions(r *inventory.Report) map[string]string {
	m := make(map[string]string, r.Packages.Len())
	for _, p := range r.Packages.Packages() {
		m[p.Name] = p.Version
	}
	return m
}

// step runs an assignment as one step: package actions that cannot be
// installed fail first (a version not in the tested set, a version the
// repository no longer offers); the rest are installed in one transaction
// after one index refresh; every action is judged from the re-collected
// post-state; the health checks run; on failure with rollback on-failure
// the packages return to the versions found; the post-state is reported
// and the results spooled and sent. A reboot action comes last: it runs
// only when the packages succeeded and the ring's policy asks for it, and
// its result is sent after the restart. While it works, the agent sends
// heartbeats (see beat) naming what it is doing.
func (a *Agent) step(ctx context.Context, rep *inventory.Report, asg api.Assignment, out Outcome) (Outcome, error) {
	hb := a.startBeat(ctx, asg.RolloutID, asg.HeartbeatSeconds, api.PhaseRefresh)
	defer hb.end()
	var pkgActs []api.Action
	var reboot *api.Action
	for _, act := range asg.Actions {
		if act.Kind == api.KindReboot {
			reboot = &act
			continue
		}
		pkgActs = append(pkgActs, act)
	}
	var res []*stepResult
	var tx []*stepResult
	var reqs []Request
	for _, act := range pkgActs {
		r := &stepResult{act: act, start: a.now()}
		res = append(res, r)
		if act.Tested != nil && len(act.Tested.Versions) == 0 {
			r.end, r.detail = a.now(), fmt.Sprintf("%s: ring %s ran no version of %s on this host's stream, so none is installed here; a new pass of ring %s is needed",
				api.NotTested, act.Tested.Ring, act.Package, act.Tested.Ring)
			continue
		}
		tx = append(tx, r)
		reqs = append(reqs, Request{Package: act.Package, Version: act.Version, Kind: act.Kind, Min: act.Min, MinSource: act.MinSource})
	}
	var txDetail string
	pre := versions(rep)
	if len(tx) > 0 {
		if err := a.PM.Refresh(ctx); err != nil {
			for _, r := range tx {
				r.end, r.detail = a.now(), err.Error()
			}
			tx, reqs = nil, nil
		}
	}
	if len(tx) > 0 {
		var exact []Request
		for _, q := range reqs {
			if q.Version != "" {
				exact = append(exact, q)
			}
		}
		offered, err := a.PM.Offered(ctx, exact)
		if err != nil {
			return out, fmt.Errorf("offered versions: %w", err)
		}
		keep := tx[:0]
		kreq := reqs[:0]
		for i, r := range tx {
			q := reqs[i]
			if q.Version != "" && !offers(rep.Ecosystem, offered[q.Package], q.Version) && pre[q.Package] != q.Version {
				what := "version " + q.Version
				if r.act.Tested != nil {
					what = "tested version " + q.Version + " (ring " + r.act.Tested.Ring + ")"
				}
				r.end, r.detail = a.now(), fmt.Sprintf("the repository no longer offers %s of %s on host %s (offered: %s); nothing installed for it",
					what, q.Package, a.HostID, orNone(offered[q.Package]))
				fmt.Fprintf(a.out(), "%s\n", r.detail)
				continue
			}
			keep, kreq = append(keep, r), append(kreq, q)
		}
		tx, reqs = keep, kreq
	}
	if len(tx) > 0 {
		acts := make([]api.Action, len(tx))
		for i, r := range tx {
			acts[i] = r.act
		}
		if err := a.Spool.SaveMarker(markerInflight, inflight{Actions: acts, BaselineDigest: asg.BaselineDigest, Rollback: asg.Rollback,
			Pre: pre, StartedAt: a.now(), RolloutID: asg.RolloutID, HeartbeatSeconds: asg.HeartbeatSeconds}); err != nil {
			return out, err
		}
		hb.set(api.PhaseInstall)
		detail, err := a.PM.Install(ctx, reqs)
		if err != nil {
			detail = strings.TrimSpace(detail + "\n" + err.Error())
		}
		txDetail = detail
		for _, r := range tx {
			r.end = a.now()
		}
	}
	hb.set(api.PhaseVerify)
	post, err := a.collect(ctx)
	if err != nil {
		return out, fmt.Errorf("collect post-state: %w", err)
	}
	failed := 0
	for _, r := range res {
		if r.detail != "" && !slices.Contains(tx, r) { // failed before the transaction
			failed++
			continue
		}
		ok, why := Satisfied(post, r.act)
		r.ok, r.detail = ok, why
		if !ok {
			r.detail = why + "\n" + txDetail
			failed++
		}
	}
	if len(tx) > 0 && failed == 0 {
		hb.set(api.PhaseHealth)
		t, p := a.healthTimeout()
		if err := runChecks(ctx, a.Health, t, p); err != nil {
			msg := "health check failed after patching: " + err.Error()
			fmt.Fprintln(a.out(), msg)
			for _, r := range res {
				r.ok, r.detail = false, r.detail+"; "+msg
			}
			failed = len(res)
		}
	}
	if failed > 0 && asg.Rollback == api.RollbackOnFailure && len(tx) > 0 {
		hb.set(api.PhaseRollback)
		lines, np, err := a.rollback(ctx, pre, post)
		if err != nil {
			return out, err
		}
		out.RolledBack = lines
		if np != nil {
			post = np
		}
		for _, r := range res {
			r.detail += "\nrollback (strategy.rollback on-failure): " + strings.Join(lines, "; ")
		}
	}
	var rr *stepResult
	if reboot != nil {
		rr = &stepResult{act: *reboot, start: a.now()}
		switch {
		case failed > 0:
			rr.detail = "not rebooted: the step's package actions failed"
		case !needsReboot(*reboot, post):
			rr.ok, rr.detail = true, "no reboot required: ring reboot policy "+reboot.RebootPolicy+" and the host reports none"
		case a.Boot == nil:
			rr.detail = "a reboot is required but no reboot command is configured (--reboot-command)"
		default:
			rr = nil // decided after the restart
		}
		if rr != nil {
			rr.end = a.now()
			res = append(res, rr)
			if !rr.ok {
				failed++
			}
		}
	}
	if len(res) > 0 {
		hb.set(api.PhaseReport)
		if err := a.send(ctx, asg.BaselineDigest, post, res, &out); err != nil {
			return out, err
		}
	}
	if err := a.Spool.ClearMarker(markerInflight); err != nil {
		return out, err
	}
	if reboot != nil && rr == nil {
		if err := a.startReboot(ctx, *reboot, asg, pre, hb); err != nil {
			r := &stepResult{act: *reboot, start: a.now(), end: a.now(), detail: err.Error()}
			if err := a.send(ctx, asg.BaselineDigest, post, []*stepResult{r}, &out); err != nil {
				return out, err
			}
			failed++
		} else {
			out.Rebooting = true
		}
	}
	if failed > 0 {
		return out, fmt.Errorf("%w: %d of %d", ErrActionsFailed, failed, len(asg.Actions))
	}
	return out, nil
}

func orNone(vs []string) string {
	if len(vs) == 0 {
		return "none"
	}
	return strings.Join(vs, ", ")
}

// needsReboot applies the ring's reboot policy: always, or (if-required)
// only when the host reports that it needs one.
func needsReboot(act api.Action, post *inventory.Report) bool {
	return act.RebootPolicy == api.RebootAlways || post.RebootRequired
}

// send reports the post-state, spools the results and delivers them.
func (a *Agent) send(ctx context.Context, digest string, post *inventory.Report, res []*stepResult, out *Outcome) error {
	pack, _, err := a.Client.Report(ctx, post)
	if err != nil {
		return fmt.Errorf("report post-state: %w", err)
	}
	req := api.ResultsRequest{PostStateHash: post.Packages.Hash(), PostStateReportID: pack.ReportID}
	for _, r := range res {
		ar := api.ActionResult{ActionID: r.act.ID, BaselineDigest: digest, Key: r.act.Key, Outcome: api.OutcomeSucceeded,
			Detail: r.detail, StartedAt: r.start, FinishedAt: r.end}
		if !r.ok {
			ar.Outcome = api.OutcomeFailed
		}
		if len(ar.Detail) > 8000 {
			ar.Detail = ar.Detail[:8000]
		}
		first, _, _ := strings.Cut(r.detail, "\n")
		fmt.Fprintf(a.out(), "%s %s: %s\n", ar.Outcome, r.act.Key, first)
		req.Results = append(req.Results, ar)
	}
	out.Results = append(out.Results, req.Results...)
	if _, err := a.Spool.Put(req); err != nil {
		return err
	}
	return a.Deliver(ctx)
}

// rollback returns every package whose version changed to the version it
// had (in one transaction) and says, per package, what happened; a
// version the repository no longer offers cannot be restored and is named.
func (a *Agent) rollback(ctx context.Context, pre map[string]string, post *inventory.Report) ([]string, *inventory.Report, error) {
	var reqs []Request
	var lines []string
	for _, p := range post.Packages.Packages() {
		old, had := pre[p.Name]
		switch {
		case !had:
			lines = append(lines, fmt.Sprintf("%s %s was new in this step and is left installed", p.Name, p.Version))
		case old != p.Version:
			reqs = append(reqs, Request{Package: p.Name, Version: old, Kind: api.KindDowngrade})
		}
	}
	if len(reqs) == 0 {
		return append(lines, "nothing changed, nothing to roll back"), nil, nil
	}
	offered, err := a.PM.Offered(ctx, reqs)
	if err != nil {
		return nil, nil, fmt.Errorf("rollback: %w", err)
	}
	var can []Request
	for _, q := range reqs {
		if offers(post.Ecosystem, offered[q.Package], q.Version) {
			can = append(can, q)
			continue
		}
		lines = append(lines, fmt.Sprintf("cannot roll back %s to %s: the repository no longer offers it (offered: %s)", q.Package, q.Version, orNone(offered[q.Package])))
	}
	if len(can) == 0 {
		return lines, nil, nil
	}
	detail, ierr := a.PM.Install(ctx, can)
	np, err := a.collect(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("collect after rollback: %w", err)
	}
	now := versions(np)
	for _, q := range can {
		if now[q.Package] == q.Version {
			lines = append(lines, fmt.Sprintf("rolled back %s to %s", q.Package, q.Version))
		} else {
			lines = append(lines, fmt.Sprintf("rollback of %s to %s failed: it is %s", q.Package, q.Version, now[q.Package]))
		}
	}
	if ierr != nil {
		lines = append(lines, "rollback transaction: "+ierr.Error()+": "+tail(detail, 500))
	}
	fmt.Fprintf(a.out(), "rollback: %s\n", strings.Join(lines, "; "))
	return lines, np, nil
}

// offers reports whether the repository offers version v among vs. The
// versions are compared per ecosystem, not as strings: rpm reports a
// package built with an explicit "Epoch: 0" as 0:1.1-1, and dnf's
// repository query (like libsolv) shows the same package as 1.1-1.
func offers(eco vercmp.Ecosystem, vs []string, v string) bool {
	return slices.ContainsFunc(vs, func(o string) bool { return o == v || vercmp.Compare(eco, o, v) == 0 })
}

// startReboot spools the reboot marker, runs the pre-reboot hook and the
// reboot command. The result is reported after the restart.
func (a *Agent) startReboot(ctx context.Context, act api.Action, asg api.Assignment, pre map[string]string, hb *beat) error {
	id, err := a.Boot.BootID()
	if err != nil {
		return fmt.Errorf("not rebooted: %w", err)
	}
	if a.Hooks.PreReboot != "" {
		if out, err := shell(ctx, a.Hooks.PreReboot); err != nil {
			return fmt.Errorf("not rebooted: pre-reboot hook %q failed: %v: %s", a.Hooks.PreReboot, err, strings.TrimSpace(tail(out, 500)))
		}
	}
	m := rebooting{Action: act, BaselineDigest: asg.BaselineDigest, BootID: id, Rollback: asg.Rollback, Pre: pre, At: a.now(),
		RolloutID: asg.RolloutID, HeartbeatSeconds: asg.HeartbeatSeconds}
	if err := a.Spool.SaveMarker(markerReboot, m); err != nil {
		return err
	}
	// The server gives a rebooting host more time: say so before the
	// command may end this process.
	hb.now(ctx, api.PhaseRebooting)
	fmt.Fprintf(a.out(), "rebooting (%s; boot id %s)\n", act.Reason, id)
	if err := a.Boot.Reboot(ctx); err != nil {
		_ = a.Spool.ClearMarker(markerReboot)
		return fmt.Errorf("not rebooted: %w", err)
	}
	return nil
}

// finishReboot reports a reboot an earlier run started: once the boot id
// changed, it runs the post-boot hook and the health checks and reports
// the result; when the boot id has not changed within RebootGrace, it
// reports the reboot as failed. It never runs the reboot command again.
func (a *Agent) finishReboot(ctx context.Context, out *Outcome) error {
	var m rebooting
	ok, err := a.Spool.LoadMarker(markerReboot, &m)
	if err != nil || !ok {
		return err
	}
	r := &stepResult{act: m.Action, start: m.At}
	var hb *beat
	defer func() { hb.end() }()
	if a.Boot == nil {
		r.detail = "a reboot was started but this agent has no reboot configuration to confirm it"
	} else {
		id, err := a.Boot.BootID()
		if err != nil {
			return err
		}
		grace := a.RebootGrace
		if grace <= 0 {
			grace = 15 * time.Minute
		}
		if id == m.BootID {
			if a.now().Sub(m.At) < grace {
				if m.RolloutID != "" {
					ack, err := a.Client.Heartbeat(ctx, a.HostID, api.Heartbeat{RolloutID: m.RolloutID, Phase: api.PhaseRebooting})
					if err != nil {
						a.log().Warn("heartbeat not delivered", "phase", api.PhaseRebooting, "err", err)
					} else if ack.Recorded {
						a.beats.Add(1)
					}
				}
				return fmt.Errorf("%w: waiting for the restart begun at %s (boot id still %s)", ErrRebootPending, m.At.Format(time.RFC3339), id)
			}
			r.detail = fmt.Sprintf("the reboot command ran at %s but the host did not restart (boot id still %s); not retried", m.At.Format(time.RFC3339), id)
		} else {
			hb = a.startBeat(ctx, m.RolloutID, m.HeartbeatSeconds, api.PhasePostBoot)
			r.ok, r.detail = true, fmt.Sprintf("rebooted: boot id %s -> %s", m.BootID, id)
			if a.Hooks.PostBoot != "" {
				if out, err := shell(ctx, a.Hooks.PostBoot); err != nil {
					r.ok, r.detail = false, r.detail+fmt.Sprintf("; post-boot hook %q failed: %v: %s", a.Hooks.PostBoot, err, strings.TrimSpace(tail(out, 500)))
				}
			}
			if r.ok {
				t, p := a.healthTimeout()
				if err := runChecks(ctx, a.Health, t, p); err != nil {
					r.ok, r.detail = false, r.detail+"; health check failed after reboot: "+err.Error()
				}
			}
		}
	}
	post, err := a.collect(ctx)
	if err != nil {
		return fmt.Errorf("collect after reboot: %w", err)
	}
	if r.ok && post.RebootRequired {
		r.ok, r.detail = false, r.detail+"; the host still reports that it needs a reboot"
	}
	if !r.ok && m.Rollback == api.RollbackOnFailure && a.PM != nil && m.Pre != nil {
		lines, np, err := a.rollback(ctx, m.Pre, post)
		if err != nil {
			return err
		}
		if np != nil {
			post = np
		}
		r.detail += "\nrollback (strategy.rollback on-failure; the restored versions run after the next restart): " + strings.Join(lines, "; ")
	}
	r.end = a.now()
	if err := a.send(ctx, m.BaselineDigest, post, []*stepResult{r}, out); err != nil {
		return err
	}
	return a.Spool.ClearMarker(markerReboot)
}

// recoverInflight finishes a transaction whose results were never spooled
// (the agent stopped between applying and spooling): its actions are
// judged from the post-state as it is now, not counted as failed for the
// crash alone.
func (a *Agent) recoverInflight(ctx context.Context, out *Outcome) error {
	var m inflight
	ok, err := a.Spool.LoadMarker(markerInflight, &m)
	if err != nil || !ok {
		return err
	}
	hb := a.startBeat(ctx, m.RolloutID, m.HeartbeatSeconds, api.PhaseRecover)
	defer hb.end()
	post, err := a.collect(ctx)
	if err != nil {
		return fmt.Errorf("collect post-state: %w", err)
	}
	var res []*stepResult
	for _, act := range m.Actions {
		ok, why := Satisfied(post, act)
		res = append(res, &stepResult{act: act, start: m.StartedAt, end: a.now(), ok: ok,
			detail: why + " (judged from the post-state after an agent restart)"})
	}
	fmt.Fprintf(a.out(), "recovered an interrupted step of %d action(s) from the post-state\n", len(res))
	if len(res) > 0 {
		if err := a.send(ctx, m.BaselineDigest, post, res, out); err != nil {
			return err
		}
	}
	return a.Spool.ClearMarker(markerInflight)
}

// dryRun prints the step it would run.
func (a *Agent) dryRun(rep *inventory.Report, asg api.Assignment) error {
	t, err := ToolFor(rep.Ecosystem)
	if err != nil {
		return err
	}
	var reqs []Request
	for _, act := range asg.Actions {
		switch {
		case act.Kind == api.KindReboot:
			fmt.Fprintf(a.out(), "dry-run: would reboot (policy %s) if %s\n", cmpOr(act.RebootPolicy, api.RebootIfRequired), rebootWhen(act))
		case act.Tested != nil && len(act.Tested.Versions) == 0:
			fmt.Fprintf(a.out(), "dry-run: would fail %s: %s\n", act.Key, api.NotTested)
		default:
			reqs = append(reqs, Request{Package: act.Package, Version: act.Version, Kind: act.Kind})
		}
	}
	if len(reqs) > 0 {
		rc, _ := RefreshCommand(t)
		c, err := InstallCommand(t, reqs)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out(), "dry-run: would run: %s\ndry-run: would run: %s\n", rc, c)
		for _, f := range FollowUpCommands(t, reqs) {
			fmt.Fprintf(a.out(), "dry-run: would run: %s\n", f)
		}
	}
	return nil
}

func rebootWhen(act api.Action) string {
	if act.RebootPolicy == api.RebootAlways {
		return "the packages succeed"
	}
	return "the packages succeed and the host then reports that it needs one"
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
