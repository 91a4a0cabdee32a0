package server

import (
	"net/http"
	"time"
)

// WebhookPath is where GitHub delivers webhooks.
const WebhookPath = "/webhooks/github"

// MountGitHubWebhook serves h (engine/github's Webhook, which verifies the
// signature before parsing anything) at POST /webhooks/github, counted in
// the API metrics like every route. Call it once, before serving; without
// it the path answers 404. The handler is taken as an http.Handler so that
// server does not import go-github.
func (s *Server) MountGitHubWebhook(h http.Handler) {
	pattern := http.MethodPost + " " + WebhookPath
	s.routes = append(s.routes, Route{Method: http.MethodPost, Pattern: WebhookPath})
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		s.m.observeAPI(pattern, sw.code, time.Since(start).Seconds())
	})
}
