package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchbay/patchbay/engine/audit"
	"github.com/patchbay/patchbay/engine/store"
)

// TestTokenCommandsQueueRecords: every token create and revoke puts a
// token.changed record into the store's outbox, naming the account that
// ran it (user@host) and the reason; a refused command queues nothing.
func TestTokenCommandsQueueRecords(t *testing.T) {
	ctx := context.Background()
	db := "sqlite://" + filepath.Join(t.TempDir(), "patchbay.db")
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := runAtExampleDate(ctx, append(args, "--db", db), &out, &errb); code != want {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, want, errb.String())
		}
		return errb.String()
	}
	enrolled := run(0, "token", "create", "--enroll", "--uses", "2", "--reason", "rack 12")
	id := strings.Fields(strings.TrimPrefix(enrolled, "enrollment token "))[0]
	run(0, "token", "create", "--viewer", "--name", "board", "--reason", "quarterly review")
	run(1, "token", "create", "--viewer", "--name", "board", "--reason", "twice")
	run(2, "token", "revoke", "--name", "board")
	run(0, "token", "revoke", "--name", "board", "--reason", "review done")
	run(0, "token", "revoke", "--enroll", strings.TrimSuffix(id, ":"), "--reason", "leaked")
	run(1, "token", "revoke", "--host", "web-07", "--reason", "gone")

	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.PendingRolloutEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	actor, err := osActor()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		var pl struct {
			Commit    string          `json:"commit"`
			Predicate json.RawMessage `json:"predicate"`
		}
		var p audit.TokenChanged
		if err := json.Unmarshal(e.Payload, &pl); err != nil || json.Unmarshal(pl.Predicate, &p) != nil || p.Validate() != nil {
			t.Fatalf("outbox entry %d: %s: %v", e.ID, e.Payload, err)
		}
		if e.Kind != string(audit.KindTokenChanged) || e.Actor != actor || p.Operator.Actor != actor || pl.Commit != "" {
			t.Errorf("entry %d: kind %s, actor %q/%q, commit %q; want token.changed by %q, no commit yet", e.ID, e.Kind, e.Actor, p.Operator.Actor, pl.Commit, actor)
		}
		got = append(got, fmt.Sprintf("%s %s %s: %s", p.Operator.Action, p.Token, p.Name, p.Operator.Reason))
	}
	want := []string{
		"create enroll " + strings.TrimSuffix(id, ":") + ": rack 12",
		"create viewer board: quarterly review",
		"revoke viewer board: review done",
		"revoke enroll " + strings.TrimSuffix(id, ":") + ": leaked",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("outbox:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
