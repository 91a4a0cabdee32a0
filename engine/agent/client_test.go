package agent

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/patchbay/patchbay/engine/api"
)

// TestClientTellsRetries checks that a client facing an unreachable server
// reports each failed attempt and the wait before the next one (the agent
// prints them instead of retrying in silence), then gives up with
// ErrUnreachable.
func TestClientTellsRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	type call struct{ attempt, attempts int }
	var calls []call
	c := &Client{Server: "http://" + addr, Token: "t", Retry: Retry{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond},
		OnRetry: func(attempt, attempts int, wait time.Duration, err error) {
			if err == nil || wait < 0 || wait > 2*time.Millisecond {
				t.Errorf("OnRetry(%d, %d, %s, %v)", attempt, attempts, wait, err)
			}
			calls = append(calls, call{attempt, attempts})
		}}
	_, err = c.Enroll(context.Background(), api.EnrollRequest{HostID: "h"})
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if len(calls) != 2 || calls[0] != (call{1, 3}) || calls[1] != (call{2, 3}) {
		t.Errorf("OnRetry calls %v, want attempts 1 and 2 of 3", calls)
	}
}
