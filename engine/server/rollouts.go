package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
	"github.com/patchbay/patchbay/engine/rollout"
	"github.com/patchbay/patchbay/engine/store"
)

// RolloutControl is what the rollout admin endpoints need;
// *rollout.Controller is one.
type RolloutControl interface {
	List(ctx context.Context) (api.RolloutList, error)
	Show(ctx context.Context, id string) (api.Rollout, error)
	// Pause, Resume and Abort take the admin token's name and the
	// request's reason; both go into the audit record.
	Pause(ctx context.Context, id, actor, reason string) (api.Rollout, error)
	Resume(ctx context.Context, id, actor, reason string) (api.Rollout, error)
	Abort(ctx context.Context, id, actor, reason string) (api.Rollout, error)
	// Approve starts an unreviewed rollout (break-glass), recording actor
	// and reason.
	Approve(ctx context.Context, id, actor, reason string) (api.Rollout, error)
}

// EnableRollouts serves the rollout admin endpoints (GET /api/v1/rollouts,
// GET /api/v1/rollouts/{id}, POST /api/v1/rollouts/{id}/pause|resume|abort|approve,
// whose JSON body must give a non-blank reason: 400 otherwise) backed by rc. Call it once, after New and before serving. The rollout
// controller is usually also the server's Config.Assigner.
func (s *Server) EnableRollouts(rc RolloutControl) {
	s.handle("GET /api/v1/rollouts", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.authAdmin(r); err != nil {
			return err
		}
		l, err := rc.List(r.Context())
		if err != nil {
			return rolloutError(err)
		}
		writeJSON(w, http.StatusOK, l)
		return nil
	})
	s.handle("GET /api/v1/rollouts/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.authAdmin(r); err != nil {
			return err
		}
		v, err := rc.Show(r.Context(), r.PathValue("id"))
		if err != nil {
			return rolloutError(err)
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
	for _, verb := range []string{"pause", "resume", "abort", "approve"} {
		s.handle("POST /api/v1/rollouts/{id}/"+verb, func(w http.ResponseWriter, r *http.Request) error {
			admin, err := s.authAdmin(r)
			if err != nil {
				return err
			}
			b, err := readBody(w, r, s.cfg.MaxBodyBytes)
			if err != nil {
				return err
			}
			var req api.RolloutAction
			if len(b) > 0 {
				if err := decodeJSON(b, &req); err != nil {
					return err
				}
			}
			s.log.Info("rollout admin action", "action", verb, "rollout", r.PathValue("id"), "admin", admin, "reason", req.Reason)
			if strings.TrimSpace(req.Reason) == "" {
				return errorf(http.StatusBadRequest, api.CodeBadRequest, "%s needs a reason (JSON body {\"reason\": \"...\"}); it is recorded with the admin token's name", verb)
			}
			fn := map[string]func(context.Context, string, string, string) (api.Rollout, error){"pause": rc.Pause, "resume": rc.Resume, "abort": rc.Abort,
				"approve": rc.Approve}[verb]
			v, err := fn(r.Context(), r.PathValue("id"), admin, req.Reason)
			if err != nil {
				return rolloutError(err)
			}
			writeJSON(w, http.StatusOK, v)
			return nil
		})
	}
}

func rolloutError(err error) error {
	switch {
	case errors.Is(err, rollout.ErrNotFound):
		return errorf(http.StatusNotFound, api.CodeNotFound, "no such rollout")
	case errors.Is(err, rollout.ErrNoReason):
		return errorf(http.StatusBadRequest, api.CodeBadRequest, "%s", err.Error())
	case errors.Is(err, rollout.ErrState):
		return errorf(http.StatusConflict, api.CodeConflict, "%s", err.Error())
	}
	return err
}

// Reports returns every reported host's latest report, rebuilt from the
// store (the rollout controller's Inventory).
func (s *Server) Reports(ctx context.Context) ([]*inventory.Report, error) {
	var out []*inventory.Report
	after := ""
	for {
		hosts, err := s.st.Hosts(ctx, store.HostFilter{After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, h := range hosts {
			rep, err := s.hostReport(ctx, h)
			if err != nil {
				return nil, err
			}
			if rep != nil {
				out = append(out, rep)
			}
		}
		if len(hosts) < 1000 {
			return out, nil
		}
		after = hosts[len(hosts)-1].ID
	}
}

// RolloutResolver is implemented by an Assigner that knows which rollout
// released a host's actions for a baseline digest (the rollout
// controller); results are then recorded under that rollout instead of the
// implicit one.
type RolloutResolver interface {
	RolloutOf(ctx context.Context, hostID, baselineDigest string) (id string, ok bool, err error)
}

func (s *Server) resultRollout(ctx context.Context, h store.Host, digest string) (string, error) {
	if rr, ok := s.assigner.(RolloutResolver); ok {
		id, found, err := rr.RolloutOf(ctx, h.ID, digest)
		if err != nil {
			return "", err
		}
		if found {
			return id, nil
		}
	}
	return s.implicitRollout(ctx, h, digest)
}
