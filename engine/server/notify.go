package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/patchbay/patchbay/engine/baseline"
	"github.com/patchbay/patchbay/engine/notify"
	"github.com/patchbay/patchbay/engine/plan"
)

// NotifierFunc builds the notifier of a repository's config.notify,
// reading its secret files (nil and no error when nothing is configured).
type NotifierFunc func(c *baseline.Notify) (*notify.Notifier, error)

// notifyFollow keeps the notifier in step with the served model.
type notifyFollow struct {
	build NotifierFunc

	mu     sync.Mutex
	rev    string            // model revision last looked at
	conf   []byte            // its config.notify, as JSON
	recv   map[string]string // its receivers (notify.Receivers)
	n      *notify.Notifier
	loaded bool
}

// EnableNotify makes NotifyNow and RunNotify follow config.notify: when the
// served model's revision changes config.notify (a new commit, seen at the
// next sync), the notifier is built again with build — new receivers get
// the next events, removed ones get none, secret files are read again —
// and the receivers added, removed and changed are logged with the
// revision. A new config that does not build (a missing secret file) is
// logged as an error and the previous notifier stays. Call it before
// serving.
func (s *Server) EnableNotify(build NotifierFunc) {
	s.notify = &notifyFollow{build: build}
}

// SyncNotify brings the notifier up to the served model's config.notify
// (see EnableNotify) and returns it (nil when nothing is configured). It
// fails only when the first config seen does not build.
func (s *Server) SyncNotify() (*notify.Notifier, error) {
	f := s.notify
	if f == nil {
		return nil, nil
	}
	m, err := s.model()
	if errors.Is(err, ErrNoModel) {
		return nil, nil // nothing to follow yet
	}
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loaded && m.Revision == f.rev {
		return f.n, nil
	}
	c := m.Repo.Config.Notify
	conf, _ := json.Marshal(c)
	if f.loaded && bytes.Equal(conf, f.conf) {
		f.rev = m.Revision
		return f.n, nil
	}
	n, err := f.build(c)
	if err != nil {
		if !f.loaded {
			return nil, err
		}
		s.log.Error("notification config not applied; the previous receivers stay", "revision", m.Revision, "kept", f.rev, "err", err)
		f.rev = m.Revision // tried once per revision; the log says why
		return f.n, nil
	}
	recv := notify.Receivers(c)
	added, removed, changed := notify.ReceiverChanges(f.recv, recv)
	if f.loaded {
		s.log.Info("notification config changed", "revision", m.Revision, "previous", f.rev, "added", added, "removed", removed, "changed", changed)
	} else if len(recv) > 0 {
		s.log.Info("notification config", "revision", m.Revision, "receivers", added)
	}
	f.rev, f.conf, f.recv, f.n, f.loaded = m.Revision, conf, recv, n, true
	return n, nil
}

// NotifyNow syncs the notifier with the served model (SyncNotify) and
// delivers the events that hold now through it.
func (s *Server) NotifyNow(ctx context.Context) error {
	n, err := s.SyncNotify()
	if err != nil || n == nil {
		return err
	}
	return s.NotifyOnce(ctx, n)
}

// NotifyOnce detects the events that hold now (from the fleet plan, the
// repository's exceptions and the latest rollout records) and delivers
// them through n; events already delivered are not sent again.
func (s *Server) NotifyOnce(ctx context.Context, n *notify.Notifier) error {
	m, err := s.model()
	if err != nil {
		return err
	}
	p, err := s.FleetPlan(ctx, plan.Options{})
	if err != nil {
		return err
	}
	evs, err := s.st.RecentRolloutEvents(ctx, 500)
	if err != nil {
		return err
	}
	in := notify.DetectInput{Plan: p, Repo: m.Repo, Events: evs, Now: s.now().UTC(), BreachLead: 72 * time.Hour, ExceptionLead: 14 * 24 * time.Hour}
	if c := m.Repo.Config.Notify; c != nil {
		in.BreachLead, in.ExceptionLead = time.Duration(c.BreachLead), time.Duration(c.ExceptionLead)
	}
	return n.Notify(ctx, notify.Detect(in))
}

// RunNotify calls NotifyNow every interval until ctx ends (EnableNotify
// first).
func (s *Server) RunNotify(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.NotifyNow(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
