package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// FleetPlan computes the fleet plan from every host's latest report and
// the current model. Package sets are shared through the server's set
// cache, so the cost is one plan computation per distinct (set, stream,
// ring), not per host.
func (s *Server) FleetPlan(ctx context.Context, opts plan.Options) (*plan.Plan, error) {
	m, err := s.model()
	if err != nil {
		return nil, err
	}
	var reports []*inventory.Report
	after := ""
	for {
		hosts, err := s.st.Hosts(ctx, store.HostFilter{After: after, Limit: 10000})
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			rep, err := s.hostReport(ctx, h)
			if err != nil {
				return nil, err
			}
			if rep != nil {
				reports = append(reports, rep)
			}
		}
		if len(hosts) < 10000 {
			break
		}
		after = hosts[len(hosts)-1].ID
	}
	start := time.Now()
	p := plan.Compute(plan.Input{Repo: m.Repo, Reports: reports, Now: s.now().UTC()}, opts)
	s.m.fleetPlanSecs.observe(time.Since(start).Seconds())
	return p, nil
}

func (s *Server) fleetPlan(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authAdmin(r); err != nil {
		return err
	}
	q := r.URL.Query()
	p, err := s.FleetPlan(r.Context(), plan.Options{Ring: q.Get("ring"), Host: q.Get("host")})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if !acceptsGzip(r) {
		return encodeOrLog(s, writePlan(w, p))
	}
	// A fleet plan is large and repetitive (354 MB at 100,000 hosts):
	// compress when the client accepts it (Go's client does by default).
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Add("Vary", "Accept-Encoding")
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
	err = writePlan(zw, p)
	return encodeOrLog(s, errors.Join(err, zw.Close()))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// writePlan writes p as `patchbay plan --format json` does (compact), one
// host at a time: a 100,000-host plan is hundreds of megabytes of JSON, and
// encoding it whole would hold all of it in memory.
func writePlan(w io.Writer, p *plan.Plan) error {
	skel := *p
	skel.Hosts = plan.HostsOf([]plan.Host{})
	b, err := json.Marshal(&skel)
	if err != nil {
		return err
	}
	head, tail, ok := bytes.Cut(b, []byte(`"hosts":[]`))
	if !ok {
		return errors.New("write plan: no hosts field")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(head)
	bw.WriteString(`"hosts":[`)
	for i, h := range p.Hosts.All() {
		if i > 0 {
			bw.WriteByte(',')
		}
		hb, err := json.Marshal(&h)
		if err != nil {
			return err
		}
		if _, err := bw.Write(hb); err != nil {
			return err
		}
	}
	bw.WriteByte(']')
	bw.Write(tail)
	bw.WriteByte('\n')
	return bw.Flush()
}

func encodeOrLog(s *Server, err error) error {
	if err != nil {
		s.log.Warn("write response", "err", err) // headers are sent: nothing else to do
	}
	return nil
}

func wireHost(h store.Host) api.Host {
	out := api.Host{ID: h.ID, Hostname: h.Hostname, Stream: h.Stream, Ring: h.Ring, Arch: h.Arch, Kernel: h.Kernel,
		AgentVersion: h.AgentVersion, Labels: h.Labels, RebootRequired: h.RebootRequired, PackageSetHash: h.PackageSetHash,
		EnrolledAt: h.EnrolledAt.UTC()}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if !h.LastReportAt.IsZero() {
		t := h.LastReportAt.UTC()
		out.LastReportAt = &t
	}
	return out
}

func (s *Server) hosts(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authAdmin(r); err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "limit: want 1 to 10000")
		}
		limit = n
	}
	hs, err := s.st.Hosts(r.Context(), store.HostFilter{Ring: q.Get("ring"), Stream: q.Get("stream"), After: q.Get("after"), Limit: limit})
	if err != nil {
		return err
	}
	out := api.HostList{Hosts: make([]api.Host, 0, len(hs))}
	for _, h := range hs {
		out.Hosts = append(out.Hosts, wireHost(h))
	}
	if len(hs) == limit {
		out.Next = hs[len(hs)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) host(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authAdmin(r); err != nil {
		return err
	}
	h, err := s.st.Host(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := api.HostDetail{Host: wireHost(h)}
	snap, err := s.st.Plan(r.Context(), h.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		at := snap.ComputedAt.UTC()
		out.PlanComputedAt, out.BaselineDigest, out.Plan = &at, snap.BaselineDigest, json.RawMessage(snap.Data)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
