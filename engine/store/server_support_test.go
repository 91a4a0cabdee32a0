package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// The server's additions, on both backends.
func TestServerSupportSQLite(t *testing.T)   { testServerSupport(t, sqliteURL) }
func TestServerSupportPostgres(t *testing.T) { testServerSupport(t, postgresURL) }

func testServerSupport(t *testing.T, newURL func(testing.TB) string) {
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := mustOpen(t, newURL(t), Options{Now: clock})

	t.Run("CheckEnrollmentToken", func(t *testing.T) {
		if err := s.CreateEnrollmentToken(ctx, "one-use", now.Add(time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateEnrollmentToken(ctx, "expired", now.Add(-time.Second), 5); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name, token string
			ok          bool
		}{{"usable", "one-use", true}, {"unknown", "nope", false}, {"expired", "expired", false}}
		for _, tt := range tests {
			err := s.CheckEnrollmentToken(ctx, tt.token)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrTokenInvalid)) {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
		// Checking does not use it; using it does.
		if err := s.CheckEnrollmentToken(ctx, "one-use"); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeEnrollmentToken(ctx, "one-use"); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckEnrollmentToken(ctx, "one-use"); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("used up: %v", err)
		}
	})

	t.Run("PutPlans and SetHostRings", func(t *testing.T) {
		enroll(t, s, "a", "b")
		n, err := s.PutPlans(ctx, []PlanSnapshot{
			{HostID: "a", ComputedAt: now, BaselineDigest: "d1", Data: []byte(`{"id":"a"}`)},
			{HostID: "b", ComputedAt: now, BaselineDigest: "d1", Data: []byte(`{"id":"b"}`)},
			{HostID: "gone", ComputedAt: now, BaselineDigest: "d1", Data: []byte(`{}`)},
		})
		if err != nil || n != 2 {
			t.Fatalf("PutPlans = %d, %v; want 2 (the unknown host skipped)", n, err)
		}
		if _, err := s.PutPlans(ctx, []PlanSnapshot{{HostID: "a", ComputedAt: now.Add(time.Minute), BaselineDigest: "d2", Data: []byte(`{"v":2}`)}}); err != nil {
			t.Fatal(err)
		}
		p, err := s.Plan(ctx, "a")
		if err != nil || p.BaselineDigest != "d2" || string(p.Data) != `{"v":2}` || !p.ComputedAt.Equal(now.Add(time.Minute)) {
			t.Errorf("Plan(a) = %+v, %v", p, err)
		}
		if _, err := s.Plan(ctx, "gone"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Plan(gone): %v", err)
		}
		if _, err := s.PutPlans(ctx, []PlanSnapshot{{HostID: "a"}}); !errors.Is(err, ErrInvalid) {
			t.Errorf("nil data: %v", err)
		}
		if err := s.SetHostRings(ctx, map[string]string{"a": "canary", "b": "prod", "gone": "x"}); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"a": "canary", "b": "prod"} {
			if h, err := s.Host(ctx, id); err != nil || h.Ring != want {
				t.Errorf("host %s ring %q, want %q (%v)", id, h.Ring, want, err)
			}
		}
	})
}
