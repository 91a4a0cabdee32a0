package github

import (
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// Kind says what a delivery asks patchbay to do.
type Kind string

// The kinds of events patchbay acts on.
const (
	// KindIgnored is every event patchbay does not handle (answered 202).
	KindIgnored Kind = "ignored"
	// KindPing is GitHub's ping when a hook is created.
	KindPing Kind = "ping"
	// KindGate re-evaluates a pull request: plan, gate, comment, check.
	KindGate Kind = "gate"
	// KindCommand is a /patchbay plan or /patchbay gate comment; it runs
	// like KindGate once the commenter's permission is checked.
	KindCommand Kind = "command"
	// KindMerged is a merged pull request: the rollout controller is hinted.
	KindMerged Kind = "merged"
	// KindPush is a push to the main branch: the rollout controller is
	// hinted.
	KindPush Kind = "push"
)

// Event is a verified delivery reduced to what patchbay needs. It is a
// hint: the pull request, its reviews and the commits are read again from
// the API and Git.
type Event struct {
	Kind Kind
	// Name and Action are X-GitHub-Event and the payload's action.
	Name, Action string
	// Delivery is X-GitHub-Delivery.
	Delivery string
	// Owner and Repo name the repository.
	Owner, Repo string
	// PR is the pull request number (gate, command, merged).
	PR int
	// Sender is the login that caused the event; for synchronize it is the
	// last pusher.
	Sender string
	// Command is "plan" or "gate" for KindCommand.
	Command string
	// Ref and After are a push's ref and new head (KindPush).
	Ref, After string
	// InstallationID is the GitHub App installation, when present.
	InstallationID int64
}

// commandPrefix starts a comment command.
const commandPrefix = "/patchbay"

// ParseEvent parses a verified delivery body of event type name and routes
// it. mainBranch is the branch whose pushes are hinted; empty means the
// repository's default branch as the payload names it. An event type
// patchbay does not handle is KindIgnored without being parsed.
func ParseEvent(name, delivery string, body []byte, mainBranch string) (Event, error) {
	ev := Event{Kind: KindIgnored, Name: name, Delivery: delivery}
	switch name {
	case "ping", "pull_request", "pull_request_review", "issue_comment", "push":
	default:
		return ev, nil
	}
	payload, err := gh.ParseWebHook(name, body)
	if err != nil {
		return ev, fmt.Errorf("%w: %s payload: %v", ErrMalformed, name, err)
	}
	setRepo := func(r *gh.Repository, inst *gh.Installation, sender *gh.User) error {
		ev.Owner, ev.Repo = r.GetOwner().GetLogin(), r.GetName()
		if ev.Owner == "" || ev.Repo == "" {
			full := r.GetFullName()
			ev.Owner, ev.Repo, _ = strings.Cut(full, "/")
		}
		if ev.Owner == "" || ev.Repo == "" {
			return fmt.Errorf("%w: %s payload: no repository", ErrMalformed, name)
		}
		ev.InstallationID = inst.GetID()
		ev.Sender = sender.GetLogin()
		return nil
	}
	switch p := payload.(type) {
	case *gh.PingEvent:
		ev.Kind = KindPing
		return ev, nil
	case *gh.PullRequestEvent:
		ev.Action = p.GetAction()
		if err := setRepo(p.GetRepo(), p.GetInstallation(), p.GetSender()); err != nil {
			return ev, err
		}
		ev.PR = p.GetNumber()
		if ev.PR == 0 {
			ev.PR = p.GetPullRequest().GetNumber()
		}
		if ev.PR <= 0 {
			return ev, fmt.Errorf("%w: pull_request payload: no number", ErrMalformed)
		}
		switch ev.Action {
		case "opened", "reopened", "synchronize", "ready_for_review":
			ev.Kind = KindGate
		case "closed":
			if p.GetPullRequest().GetMerged() {
				ev.Kind = KindMerged
			}
		}
	case *gh.PullRequestReviewEvent:
		ev.Action = p.GetAction()
		if err := setRepo(p.GetRepo(), p.GetInstallation(), p.GetSender()); err != nil {
			return ev, err
		}
		ev.PR = p.GetPullRequest().GetNumber()
		if ev.PR <= 0 {
			return ev, fmt.Errorf("%w: pull_request_review payload: no pull request number", ErrMalformed)
		}
		if ev.Action == "submitted" || ev.Action == "dismissed" {
			ev.Kind = KindGate
		}
	case *gh.IssueCommentEvent:
		ev.Action = p.GetAction()
		if err := setRepo(p.GetRepo(), p.GetInstallation(), p.GetSender()); err != nil {
			return ev, err
		}
		cmd, ok := ParseCommand(p.GetComment().GetBody())
		if ev.Action != "created" || !ok || p.GetIssue().GetPullRequestLinks() == nil {
			return ev, nil
		}
		ev.PR = p.GetIssue().GetNumber()
		if ev.PR <= 0 {
			return ev, fmt.Errorf("%w: issue_comment payload: no issue number", ErrMalformed)
		}
		ev.Kind, ev.Command = KindCommand, cmd
		ev.Sender = p.GetComment().GetUser().GetLogin()
	case *gh.PushEvent:
		r := p.GetRepo()
		ev.Owner, ev.Repo = r.GetOwner().GetLogin(), r.GetName()
		if ev.Owner == "" {
			ev.Owner = r.GetOwner().GetName()
		}
		if ev.Owner == "" || ev.Repo == "" {
			return ev, fmt.Errorf("%w: push payload: no repository", ErrMalformed)
		}
		ev.InstallationID = p.GetInstallation().GetID()
		ev.Sender = p.GetSender().GetLogin()
		ev.Ref, ev.After = p.GetRef(), p.GetAfter()
		branch := mainBranch
		if branch == "" {
			branch = r.GetDefaultBranch()
		}
		if branch != "" && ev.Ref == "refs/heads/"+branch && !p.GetDeleted() {
			ev.Kind = KindPush
		}
	}
	return ev, nil
}

// ParseCommand recognises "/patchbay plan" and "/patchbay gate" on the
// first non-empty line of a comment.
func ParseCommand(body string) (string, bool) {
	for line := range strings.Lines(body) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) == 2 && f[0] == commandPrefix && (f[1] == "plan" || f[1] == "gate") {
			return f[1], true
		}
		return "", false
	}
	return "", false
}
