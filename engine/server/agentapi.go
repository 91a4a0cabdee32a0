package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
	"github.com/patchbay/patchbay/engine/vercmp"
)

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) error {
	tok, err := bearer(r)
	if err != nil {
		return err
	}
	if err := s.st.CheckEnrollmentToken(r.Context(), tok); err != nil {
		return err
	}
	b, err := readBody(w, r, 64<<10)
	if err != nil {
		return err
	}
	var req api.EnrollRequest
	if err := decodeJSON(b, &req); err != nil {
		return err
	}
	// Validate the host's facts with the report rules (hostId syntax,
	// labels, arch); a minimal report carries them.
	probe := &inventory.Report{HostID: req.HostID, Hostname: req.Hostname, Labels: req.Labels, Arch: req.Arch,
		Ecosystem: vercmp.Deb, Stream: "debian-12", CollectedAt: time.Unix(0, 0)}
	if err := probe.Validate(); err != nil {
		var fe *inventory.FieldError
		for e := range joined(err) {
			if errors.As(e, &fe) && fe.Path != "packages" {
				return errorf(http.StatusUnprocessableEntity, api.CodeInvalidReport, "%s", fe.Error())
			}
		}
	}
	hostTok, err := store.NewToken()
	if err != nil {
		return err
	}
	h, err := s.st.EnrollHost(r.Context(), tok, store.NewHost{ID: req.HostID, Labels: req.Labels, Stream: req.Stream,
		Hostname: req.Hostname, Arch: req.Arch}, hostTok)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, api.CodeConflict, "host %s is already enrolled", req.HostID)
	}
	if err != nil {
		return err
	}
	s.log.Info("host enrolled", "host", h.ID)
	writeJSON(w, http.StatusCreated, api.EnrollResponse{HostID: h.ID, Token: hostTok})
	return nil
}

// joined yields err and, for errors.Join results, each joined error.
func joined(err error) func(func(error) bool) {
	return func(yield func(error) bool) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if !yield(e) {
					return
				}
			}
			return
		}
		yield(err)
	}
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) error {
	h, err := s.authHost(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var (
		rep     *inventory.Report
		setData []byte
		full    bool
	)
	switch mediaType(r) {
	case api.MediaReportSummary:
		b, err := readBody(w, r, s.cfg.MaxBodyBytes)
		if err != nil {
			return err
		}
		var sum api.ReportSummary
		if err := decodeJSON(b, &sum); err != nil {
			return err
		}
		if sum.HostID != h.ID {
			return errorf(http.StatusForbidden, api.CodeForbidden, "report hostId %q is not the token's host", sum.HostID)
		}
		if sum.PackageSetHash == "" {
			return errorf(http.StatusUnprocessableEntity, api.CodeInvalidReport, "packageSetHash: missing")
		}
		ps, err := s.packageSet(ctx, sum.PackageSetHash)
		if errors.Is(err, store.ErrNotFound) {
			s.m.needPackages.Add(1)
			return ErrNeedPackages
		}
		if err != nil {
			return err
		}
		rep = &inventory.Report{HostID: sum.HostID, Hostname: sum.Hostname, Stream: sum.Stream, Ecosystem: vercmp.Ecosystem(sum.Ecosystem),
			Labels: sum.Labels, Arch: sum.Arch, Kernel: sum.Kernel, RebootRequired: sum.RebootRequired,
			CollectedAt: sum.CollectedAt, AgentVersion: sum.AgentVersion, Packages: ps}
		if err := rep.Validate(); err != nil {
			return err
		}
	case api.MediaReport:
		b, err := readBody(w, r, s.cfg.MaxReportBytes)
		if err != nil {
			return err
		}
		dec := s.decs.Get().(*inventory.Decoder)
		rep, err = dec.Decode(b)
		s.decs.Put(dec)
		if err != nil {
			return err
		}
		if rep.HostID != h.ID {
			return errorf(http.StatusForbidden, api.CodeForbidden, "report hostId %q is not the token's host", rep.HostID)
		}
		if known := s.sets.get(rep.Packages.Hash()); known != nil {
			rep.Packages = known
		} else {
			setData = encodeSet(rep.Packages)
		}
		full = true
	default:
		return errorf(http.StatusUnsupportedMediaType, api.CodeUnsupportedType,
			"Content-Type must be %s (full report) or %s (summary)", api.MediaReport, api.MediaReportSummary)
	}
	rec := store.ReportRecord{HostID: h.ID, ReceivedAt: s.now().UTC(), CollectedAt: rep.CollectedAt, Stream: rep.Stream,
		Hostname: rep.Hostname, Arch: rep.Arch, Kernel: rep.Kernel, AgentVersion: rep.AgentVersion, Labels: rep.Labels,
		RebootRequired: rep.RebootRequired, PackageSetHash: rep.Packages.Hash(), PackageSet: setData}
	res, err := s.st.SaveReport(ctx, rec)
	if errors.Is(err, store.ErrPackageSetMissing) {
		s.m.needPackages.Add(1)
		return ErrNeedPackages
	}
	if err != nil {
		return err
	}
	if full {
		s.m.reportsFull.Add(1)
		if setData != nil {
			rep.Packages = s.sets.put(rep.Packages)
		}
	} else {
		s.m.reportsSummary.Add(1)
	}
	ack := api.ReportAck{Accepted: true, ReportID: res.ReportID, PackageSetHash: rec.PackageSetHash, SetStored: res.SetStored}
	if len(rep.Labels) == 0 {
		rep.Labels = h.Labels
	}
	if ph, m := s.planOne(rep); ph != nil {
		ack.Status, ack.Actions = string(ph.Status), len(ph.Actions)
		if data, err := json.Marshal(ph); err == nil {
			s.plans.put(store.PlanSnapshot{HostID: h.ID, ComputedAt: m.now, BaselineDigest: ph.BaselineDigest, Data: data})
		}
		if ph.Ring != h.Ring {
			s.plans.setRing(h.ID, ph.Ring)
		}
		if s.cfg.History != nil {
			s.plans.putStates(history.HostStates(ph, m.repo, m.now, ""))
		}
	}
	writeJSON(w, http.StatusOK, ack)
	return nil
}

type planMeta struct {
	now  time.Time
	repo *baseline.Repository
}

// planOne computes one host's plan against the current model; nil when no
// model is loaded.
func (s *Server) planOne(rep *inventory.Report) (*plan.Host, planMeta) {
	m, err := s.model()
	if err != nil {
		return nil, planMeta{}
	}
	now := s.now().UTC()
	start := time.Now()
	p := plan.Compute(plan.Input{Repo: m.Repo, Reports: []*inventory.Report{rep}, Now: now}, plan.Options{Workers: 1, Memo: s.planMemo})
	s.m.planSeconds.observe(time.Since(start).Seconds())
	if p.Hosts.Len() != 1 {
		return nil, planMeta{}
	}
	h := p.Hosts.At(0)
	return &h, planMeta{now: now, repo: m.Repo}
}

// hostReport rebuilds a host's latest report from the store's host row
// and its package set; nil when the host has not reported.
func (s *Server) hostReport(ctx context.Context, h store.Host) (*inventory.Report, error) {
	if h.PackageSetHash == "" {
		return nil, nil
	}
	ps, err := s.packageSet(ctx, h.PackageSetHash)
	if err != nil {
		return nil, err
	}
	return &inventory.Report{HostID: h.ID, Hostname: h.Hostname, Stream: h.Stream, Ecosystem: ps.Ecosystem(), Labels: h.Labels,
		Arch: h.Arch, Kernel: h.Kernel, RebootRequired: h.RebootRequired, CollectedAt: h.LastReportAt, AgentVersion: h.AgentVersion,
		Packages: ps}, nil
}

// HostPlan computes the host's plan from its latest report and the
// current model: ErrNoModel when none is loaded, nil when the host has not
// reported.
func (s *Server) HostPlan(ctx context.Context, h store.Host) (*plan.Host, error) {
	if _, err := s.model(); err != nil {
		return nil, err
	}
	rep, err := s.hostReport(ctx, h)
	if err != nil || rep == nil {
		return nil, err
	}
	ph, _ := s.planOne(rep)
	return ph, nil
}

func (s *Server) assignment(w http.ResponseWriter, r *http.Request) error {
	h, err := s.authHost(r)
	if err != nil {
		return err
	}
	var q api.AssignmentQuery
	switch v := r.URL.Query().Get("dryRun"); v {
	case "", "false", "0":
	case "true", "1":
		q.DryRun = true
	default:
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "dryRun: want true or false, not %.40q", v)
	}
	a, err := s.assigner.Assignment(r.Context(), h, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

// maxHeartbeatBytes bounds a heartbeat's body.
const maxHeartbeatBytes = 4 << 10

// heartbeat records that the host's agent is alive and working on its
// step (authenticated, bounded to 4 KiB, then decoded).
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	h, err := s.authHost(r)
	if err != nil {
		return err
	}
	b, err := readBody(w, r, maxHeartbeatBytes)
	if err != nil {
		return err
	}
	var hb api.Heartbeat
	if err := decodeJSON(b, &hb); err != nil {
		return err
	}
	if hb.RolloutID == "" || len(hb.RolloutID) > 256 {
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "rolloutId: want the assignment's rolloutId")
	}
	if !slices.Contains(api.Phases, hb.Phase) {
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "phase: want one of %s", strings.Join(api.Phases, ", "))
	}
	rec, ok := s.assigner.(HeartbeatRecorder)
	if !ok {
		writeJSON(w, http.StatusOK, api.HeartbeatAck{Reason: "this server runs no rollout controller"})
		return nil
	}
	ack, err := rec.Heartbeat(r.Context(), h, hb)
	if err != nil {
		return err
	}
	if ack.Recorded {
		s.m.heartbeats.Add(1)
	}
	writeJSON(w, http.StatusOK, ack)
	return nil
}

// maxResults bounds the results of one request.
const maxResults = 1000

func (s *Server) results(w http.ResponseWriter, r *http.Request) error {
	h, err := s.authHost(r)
	if err != nil {
		return err
	}
	b, err := readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req api.ResultsRequest
	if err := decodeJSON(b, &req); err != nil {
		return err
	}
	if len(req.Results) == 0 || len(req.Results) > maxResults {
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "results: want 1 to %d", maxResults)
	}
	for i, res := range req.Results {
		switch res.Outcome {
		case api.OutcomeSucceeded, api.OutcomeFailed, api.OutcomeSkipped:
		default:
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "results[%d].outcome: want succeeded, failed or skipped", i)
		}
		if res.BaselineDigest == "" || res.Key == "" || res.ActionID != api.ActionID(h.ID, res.BaselineDigest, res.Key) {
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "results[%d]: actionId does not match host, baselineDigest and key", i)
		}
	}
	out := api.ResultsResponse{Statuses: make([]string, 0, len(req.Results))}
	for _, res := range req.Results {
		rid, err := s.resultRollout(r.Context(), h, res.BaselineDigest)
		if err != nil {
			return err
		}
		detail, _ := json.Marshal(struct {
			api.ActionResult
			PostStateHash     string `json:"postStateHash,omitempty"`
			PostStateReportID int64  `json:"postStateReportId,omitempty"`
		}{res, req.PostStateHash, req.PostStateReportID})
		dup, err := s.st.RecordStepResult(r.Context(), store.StepResult{Key: store.StepKey{HostID: h.ID, BaselineDigest: res.BaselineDigest,
			Action: res.Key}, RolloutID: rid, Status: res.Outcome, Detail: detail, RecordedAt: s.now().UTC()})
		if err != nil {
			return err
		}
		if dup {
			out.Duplicates++
			out.Statuses = append(out.Statuses, "duplicate")
		} else {
			out.Recorded++
			out.Statuses = append(out.Statuses, "recorded")
			s.m.resultsRecorded.Add(1)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ImplicitRolloutPrefix starts the id of the rollout under which results
// of directly assigned actions (PlanAssigner, no rollout controller) are
// recorded: one per baseline digest.
const ImplicitRolloutPrefix = "direct:"

func (s *Server) implicitRollout(ctx context.Context, h store.Host, digest string) (string, error) {
	id := ImplicitRolloutPrefix + digest
	s.rolloutMu.Lock()
	known := s.rollouts[id]
	s.rolloutMu.Unlock()
	if known {
		return id, nil
	}
	ring := h.Ring
	if ring == "" {
		ring = "-"
	}
	_, err := s.st.CreateRollout(ctx, store.Rollout{ID: id, Ring: ring, BaselineDigest: digest, State: "direct"})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return "", err
	}
	s.rolloutMu.Lock()
	s.rollouts[id] = true
	s.rolloutMu.Unlock()
	return id, nil
}
