package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/api"
	"github.com/patchbay/patchbay/engine/inventory"
)

// Retry is a retry policy: exponential backoff from Base to Max with full
// jitter, at most Attempts tries (0 means 1).
type Retry struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// DefaultRetry retries for about two minutes.
var DefaultRetry = Retry{Attempts: 8, Base: 500 * time.Millisecond, Max: 30 * time.Second}

// Client talks to the patchbay server's agent API.
type Client struct {
	// Server is the base URL, e.g. http://patchbay:8080.
	Server string
	// Token is the host token (or the enrollment token for Enroll).
	Token string
	HTTP  *http.Client
	Retry Retry
	// UserAgent is sent with every request.
	UserAgent string
	// OnRetry, when set, is told before each wait between attempts: which
	// attempt failed, how many there are, the wait and the error. The agent
	// uses it to say what it is doing while the server is unreachable.
	OnRetry func(attempt, attempts int, wait time.Duration, err error)
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 2 * time.Minute}
}

// do sends one request with retries on network errors, 429 and 5xx, and
// decodes a 2xx JSON answer into out. Non-retryable answers return an
// *APIError at once.
func (c *Client) do(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	attempts := max(c.Retry.Attempts, 1)
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			d := c.Retry.Base << (i - 1)
			if d > c.Retry.Max || d <= 0 {
				d = c.Retry.Max
			}
			d = time.Duration(rand.Int64N(int64(d) + 1)) // full jitter
			if c.OnRetry != nil {
				c.OnRetry(i, attempts, d, last)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		err := c.once(ctx, method, path, ctype, body, out)
		if err == nil {
			return nil
		}
		last = err
		var ae *APIError
		if errors.As(err, &ae) && !ae.Retryable() {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, last)
}

func (c *Client) once(ctx context.Context, method, path, ctype string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Server, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("request %s: %w", path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e api.Error
		if json.Unmarshal(data, &e) != nil || e.Code == "" {
			e = api.Error{Code: "http", Message: http.StatusText(resp.StatusCode)}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func hostPath(id, tail string) string { return "/api/v1/hosts/" + url.PathEscape(id) + tail }

// Enroll exchanges the enrollment token (c.Token) for a host token.
func (c *Client) Enroll(ctx context.Context, req api.EnrollRequest) (api.EnrollResponse, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.EnrollResponse{}, err
	}
	var out api.EnrollResponse
	err = c.do(ctx, http.MethodPost, "/api/v1/enroll", "application/json", b, &out)
	return out, err
}

// Summary returns the report without its packages.
func Summary(r *inventory.Report) api.ReportSummary {
	return api.ReportSummary{HostID: r.HostID, Hostname: r.Hostname, Stream: r.Stream, Ecosystem: string(r.Ecosystem),
		Labels: r.Labels, Arch: r.Arch, Kernel: r.Kernel, RebootRequired: r.RebootRequired, CollectedAt: r.CollectedAt.UTC(),
		AgentVersion: r.AgentVersion, PackageSetHash: r.Packages.Hash()}
}

// Report sends r hash first: the summary, and the full report only when
// the server answers need_packages. full says whether the full report was
// sent.
func (c *Client) Report(ctx context.Context, r *inventory.Report) (ack api.ReportAck, full bool, err error) {
	sum, err := json.Marshal(Summary(r))
	if err != nil {
		return ack, false, err
	}
	path := hostPath(r.HostID, "/report")
	err = c.do(ctx, http.MethodPut, path, api.MediaReportSummary, sum, &ack)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != api.CodeNeedPackages {
		return ack, false, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return ack, true, fmt.Errorf("encode report: %w", err)
	}
	err = c.do(ctx, http.MethodPut, path, api.MediaReport, b, &ack)
	return ack, true, err
}

// Assignment fetches what the host must do now; q.DryRun tells the server
// that this agent only prints what it would run (it then takes no wave
// slot).
func (c *Client) Assignment(ctx context.Context, hostID string, q api.AssignmentQuery) (api.Assignment, error) {
	var a api.Assignment
	path := hostPath(hostID, "/assignment")
	if q.DryRun {
		path += "?dryRun=true"
	}
	err := c.do(ctx, http.MethodGet, path, "", nil, &a)
	return a, err
}

// HeartbeatTimeout bounds one heartbeat request.
const HeartbeatTimeout = 10 * time.Second

// Heartbeat tells the server that the agent is alive and working on its
// step. It is tried once (bounded by HeartbeatTimeout): a lost heartbeat
// is replaced by the next one, and the step never waits for the server.
func (c *Client) Heartbeat(ctx context.Context, hostID string, hb api.Heartbeat) (api.HeartbeatAck, error) {
	b, err := json.Marshal(hb)
	if err != nil {
		return api.HeartbeatAck{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, HeartbeatTimeout)
	defer cancel()
	var out api.HeartbeatAck
	err = c.once(ctx, http.MethodPost, hostPath(hostID, "/heartbeat"), "application/json", b, &out)
	return out, err
}

// Results sends action results; redeliveries are answered as duplicates.
func (c *Client) Results(ctx context.Context, hostID string, req api.ResultsRequest) (api.ResultsResponse, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.ResultsResponse{}, err
	}
	var out api.ResultsResponse
	err = c.do(ctx, http.MethodPost, hostPath(hostID, "/results"), "application/json", b, &out)
	return out, err
}
