package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/history"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/plan"
	"github.com/patchbay/patchbay/engine/store"
)

// Defaults of Config.
const (
	// DefaultMaxBodyBytes bounds every request body except full reports.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultRate is each host's sustained request rate (per second).
	DefaultRate = 2.0
	// DefaultBurst is each host's token-bucket size.
	DefaultBurst = 20
	// DefaultPlanFlush is how often pending plan snapshots are written.
	DefaultPlanFlush = 200 * time.Millisecond
)

// ModelSource gives the current patch repository model; *Reloader is one.
type ModelSource interface {
	Status() (*Model, error)
}

// Config wires a Server. Store and Models are required.
type Config struct {
	// TrustForwardedProto trusts X-Forwarded-Proto: https from the proxy in
	// front of the server (TLS terminated there) to mark the dashboard's
	// session cookie Secure. Set it only behind such a proxy.
	TrustForwardedProto bool
	Store               *store.Store
	Models              ModelSource
	// Assigner decides what a host must do now; nil means PlanAssigner
	// (every action of the host's plan).
	Assigner Assigner
	Logger   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxReportBytes bounds a full report; 0 means inventory.DefaultMaxBytes.
	MaxReportBytes int
	// MaxBodyBytes bounds the other bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
	// Rate and Burst make each host's token bucket; 0 means the defaults;
	// a negative Rate disables rate limiting.
	Rate  float64
	Burst int
	// PlanFlush is how often plan snapshots are written; 0 means
	// DefaultPlanFlush.
	PlanFlush time.Duration
	// History, when set, records each recomputed host plan's rule states
	// (only changes are stored) with the plan snapshots.
	History *history.Recorder
}

// Server is the HTTP API. Create it with New, serve Handler (or call
// Serve), and Close it to flush pending plan snapshots.
type Server struct {
	cfg      Config
	st       *store.Store
	models   ModelSource
	assigner Assigner
	log      *slog.Logger
	now      func() time.Time
	m        *metrics
	mux      *http.ServeMux
	routes   []Route

	sets  *setCache
	decs  sync.Pool // *inventory.Decoder sharing sets.cache
	plans *planWriter
	// planMemo keeps per-set computations across reports, so a host's
	// rules are judged again only when its set, stream, ring or the model
	// changed (or a deadline passed).
	planMemo *plan.Memo

	pub Publisher // nil without EnablePublishing

	limMu    sync.Mutex
	limiters map[string]*rate.Limiter

	rolloutMu sync.Mutex
	rollouts  map[string]bool // implicit rollouts known to exist

	// rc and identify serve the dashboard (EnableDashboard).
	rc       RolloutControl
	identify IdentifyFunc
	// trail reads the audit records rollout pages show (EnableGitTrail).
	trail *gitTrail
	// notify follows config.notify (EnableNotify).
	notify *notifyFollow
}

// Route is one served method and path pattern.
type Route struct {
	Method  string
	Pattern string
}

// New returns a Server and starts its plan-snapshot writer.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Models == nil {
		return nil, errors.New("server: Store and Models are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReportBytes <= 0 {
		cfg.MaxReportBytes = inventory.DefaultMaxBytes
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.PlanFlush <= 0 {
		cfg.PlanFlush = DefaultPlanFlush
	}
	s := &Server{cfg: cfg, st: cfg.Store, models: cfg.Models, log: cfg.Logger, now: cfg.Now, m: newMetrics(), planMemo: plan.NewMemo(0),
		sets: newSetCache(), limiters: map[string]*rate.Limiter{}, rollouts: map[string]bool{}}
	s.decs.New = func() any {
		return &inventory.Decoder{Cache: s.sets.cache, MaxBytes: cfg.MaxReportBytes}
	}
	s.assigner = cfg.Assigner
	if s.assigner == nil {
		s.assigner = PlanAssigner{Plans: s, Now: s.now}
	}
	s.plans = newPlanWriter(s.st, s.log, cfg.PlanFlush, cfg.History)
	s.mux = http.NewServeMux()
	s.handle("POST /api/v1/enroll", s.enroll)
	s.handle("PUT /api/v1/hosts/{id}/report", s.report)
	s.handle("GET /api/v1/hosts/{id}/assignment", s.assignment)
	s.handle("POST /api/v1/hosts/{id}/results", s.results)
	s.handle("POST /api/v1/hosts/{id}/heartbeat", s.heartbeat)
	s.handle("GET /api/v1/plan", s.fleetPlan)
	s.handle("GET /api/v1/hosts", s.hosts)
	s.handle("GET /api/v1/hosts/{id}", s.host)
	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.handle("GET /metrics", s.metrics)
	s.handle("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) error {
		w.Header().Set("Content-Type", "application/yaml")
		_, err := w.Write(api.OpenAPI)
		return err
	})
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, api.CodeNotFound, "no such endpoint"))
	})
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.mux }

// Routes lists the served routes (method and path pattern), in
// registration order; tests compare them with openapi.yaml.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Close writes the pending plan snapshots and stops the writer. It does not
// close the store.
func (s *Server) Close() error { return s.plans.close() }

// Serve serves the API on ln until ctx ends, then shuts down gracefully:
// in-flight requests get up to grace to finish (reports being stored are
// acknowledged or refused, never half-done), then pending plan snapshots
// are written.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		err = hs.Shutdown(sctx)
		cancel()
		<-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Close())
}

// statusWriter records the status code for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) handle(pattern string, h func(http.ResponseWriter, *http.Request) error) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Pattern: path})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		if err := h(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
		s.m.observeAPI(pattern, sw.code, time.Since(start).Seconds())
	})
}

// writeError maps err to a status and a stable code; only httpError and
// input-validation messages reach the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	var mbe *http.MaxBytesError
	var fe *inventory.FieldError
	body := api.Error{Code: api.CodeInternal, Message: "internal error"}
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &he):
		status, body.Code, body.Message = he.status, he.code, he.msg
	case errors.Is(err, ErrNeedPackages):
		status, body = http.StatusConflict, api.Error{Code: api.CodeNeedPackages, Message: err.Error(), NeedPackages: true}
	case errors.As(err, &mbe), errors.Is(err, inventory.ErrTooLarge), errors.Is(err, inventory.ErrTooManyPackages):
		status, body.Code, body.Message = http.StatusRequestEntityTooLarge, api.CodeTooLarge, "request body too large"
		if errors.Is(err, inventory.ErrTooManyPackages) {
			body.Message = err.Error()
		}
	case errors.As(err, &fe), errors.Is(err, inventory.ErrInvalid):
		status, body.Code, body.Message = http.StatusUnprocessableEntity, api.CodeInvalidReport, err.Error()
	case errors.Is(err, inventory.ErrSyntax):
		status, body.Code, body.Message = http.StatusBadRequest, api.CodeBadRequest, err.Error()
	case errors.Is(err, store.ErrTokenInvalid):
		status, body.Code, body.Message = http.StatusUnauthorized, api.CodeUnauthorized, "invalid token"
	case errors.Is(err, store.ErrNotFound):
		status, body.Code, body.Message = http.StatusNotFound, api.CodeNotFound, "not found"
	case errors.Is(err, store.ErrConflict):
		status, body.Code, body.Message = http.StatusConflict, api.CodeConflict, "conflict"
	case errors.Is(err, ErrNoModel), errors.Is(err, store.ErrClosed):
		status, body.Code, body.Message = http.StatusServiceUnavailable, api.CodeUnavailable, "service unavailable"
	}
	if len(body.Message) > 2000 {
		body.Message = body.Message[:2000] + "…"
	}
	lvl := slog.LevelDebug
	if status >= 500 {
		lvl = slog.LevelError
	}
	s.log.Log(r.Context(), lvl, "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "code", body.Code, "err", err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="patchbay"`)
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // the client may be gone
}

// bearer returns the request's bearer token or a 401 error.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" || len(tok) > 512 {
		return "", errorf(http.StatusUnauthorized, api.CodeUnauthorized, "missing bearer token")
	}
	return tok, nil
}

// authHost authenticates a host token for the path's host id and applies
// the host's rate limit. It reads no body.
func (s *Server) authHost(r *http.Request) (store.Host, error) {
	tok, err := bearer(r)
	if err != nil {
		return store.Host{}, err
	}
	h, err := s.st.VerifyHostToken(r.Context(), tok)
	if err != nil {
		return store.Host{}, err
	}
	if id := r.PathValue("id"); id != h.ID {
		return store.Host{}, errorf(http.StatusForbidden, api.CodeForbidden, "a host token acts only on its own host")
	}
	if !s.allow(h.ID) {
		return store.Host{}, errorf(http.StatusTooManyRequests, api.CodeRateLimited, "rate limit exceeded; retry later")
	}
	return h, nil
}

// authAdmin authenticates an admin token. It reads no body.
func (s *Server) authAdmin(r *http.Request) (string, error) {
	tok, err := bearer(r)
	if err != nil {
		return "", err
	}
	return s.st.VerifyAdminToken(r.Context(), tok)
}

func (s *Server) allow(host string) bool {
	if s.cfg.Rate < 0 {
		return true
	}
	s.limMu.Lock()
	l := s.limiters[host]
	if l == nil {
		l = rate.NewLimiter(rate.Limit(s.cfg.Rate), s.cfg.Burst)
		s.limiters[host] = l
	}
	s.limMu.Unlock()
	return l.Allow()
}

// readBody reads at most limit bytes of the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, &http.MaxBytesError{Limit: int64(limit)}
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1) // one allocation instead of doubling
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, int64(limit)))
	b := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, api.CodeBadRequest, "read body: connection error")
	}
	return b, nil
}

// decodeJSON decodes a small JSON body strictly (unknown fields refused).
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "decode body: field %q: wrong type (got %s)", te.Field, te.Value)
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "decode body: invalid JSON at byte %d", se.Offset)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errorf(http.StatusBadRequest, api.CodeBadRequest, "decode body: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "decode body: malformed JSON")
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "decode body: trailing data")
	}
	return nil
}

func mediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

func (s *Server) model() (*Model, error) {
	m, _ := s.models.Status()
	if m == nil {
		return nil, ErrNoModel
	}
	return m, nil
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	m, lastErr := s.models.Status()
	ready := api.Ready{Store: s.st.Backend()}
	if m != nil {
		ready.Repository = m.Revision
		at := m.LoadedAt.UTC()
		ready.LoadedAt = &at
	}
	if lastErr != nil {
		ready.LastError = lastErr.Error()
		if len(ready.LastError) > 4000 {
			ready.LastError = ready.LastError[:4000] + "…"
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	_, storeErr := s.st.HasPackageSet(ctx, "sha256:readyz")
	if storeErr != nil {
		s.log.Error("readyz: store", "err", storeErr)
		ready.Store += ": unavailable"
	}
	ready.Publish = s.publishStatus(ctx)
	ready.Ready = m != nil && storeErr == nil
	status := http.StatusOK
	if !ready.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, ready)
	return nil
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.limMu.Lock()
	n := len(s.limiters)
	s.limMu.Unlock()
	s.m.write(w, s.sets.len(), int64(n))
	s.writeComplianceMetrics(r.Context(), w)
	return nil
}
