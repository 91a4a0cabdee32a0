package server

import (
	"context"
	"net/http"

	"github.com/patchbay/patchbay/engine/api"
)

// Publisher reports how far the server's audit records are from the patch
// repository; the rollout controller is one.
type Publisher interface {
	// PublishStatus is the outbox backlog and the last push and error.
	PublishStatus(ctx context.Context) (api.PublishStatus, error)
	// AuditHead is the highest chain position acknowledged by the remote
	// (or written to the local notes without one).
	AuditHead(ctx context.Context) (api.AuditHead, error)
}

// EnablePublishing shows p's status in /readyz and on the dashboard, and
// serves GET /api/v1/audit/head (admin): what an auditor passes to
// 'patchbay audit verify --expect-seq'. Call it once, after New and before
// serving.
func (s *Server) EnablePublishing(p Publisher) {
	s.pub = p
	s.handle("GET /api/v1/audit/head", func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.authAdmin(r); err != nil {
			return err
		}
		h, err := p.AuditHead(r.Context())
		if err != nil {
			s.log.Error("audit head", "err", err)
			return errorf(http.StatusServiceUnavailable, api.CodeUnavailable, "the audit head is not available: see the server log")
		}
		writeJSON(w, http.StatusOK, h)
		return nil
	})
}

// publishStatus returns the publishing status for /readyz and the
// dashboard, or nil without a Publisher (errors are logged).
func (s *Server) publishStatus(ctx context.Context) *api.PublishStatus {
	if s.pub == nil {
		return nil
	}
	st, err := s.pub.PublishStatus(ctx)
	if err != nil {
		s.log.Error("publish status", "err", err)
		return &api.PublishStatus{LastError: "status unavailable: see the server log"}
	}
	return &st
}
