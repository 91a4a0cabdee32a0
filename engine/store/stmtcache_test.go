package store

import (
	"context"
	"testing"
	"time"
)

// TestSQLiteReusesPreparedStatements proves that SaveReport on SQLite runs
// every statement as one prepared when the store opened, with and without
// group commit, for a known set and for a new one: none is prepared again
// per call (which cost a sixth of a hash-hit report's CPU).
func TestSQLiteReusesPreparedStatements(t *testing.T) {
	for _, opts := range []Options{{}, {MaxBatch: 1}} {
		s := mustOpen(t, sqliteURL(t), opts)
		enroll(t, s, "h1", "h2")
		hash, data := setOf("a", 50)
		ctx := context.Background()
		at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		for i := range 10 {
			var d []byte
			if i == 0 {
				d = data
			}
			if _, err := s.SaveReport(ctx, report([]string{"h1", "h2"}[i%2], hash, d, at.Add(time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
		if s.stmts == nil {
			t.Fatal("no prepared statements on SQLite")
		}
		used, unprepared := s.stmts.used.Load(), s.stmts.unprepared.Load()
		if unprepared != 0 || used < 10*4 {
			t.Errorf("MaxBatch %d: %d calls ran prepared statements, %d were prepared again (want ≥ 40 and 0)", opts.MaxBatch, used, unprepared)
		}
	}
}
