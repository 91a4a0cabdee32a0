package baseline

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/patchbay/patchbay/engine/vercmp"
)

// Repository is a loaded and validated patch repository. Downstream code
// trusts it: every reference resolves and every version parses.
type Repository struct {
	Config Config `json:"config"`
	// Baselines by id.
	Baselines map[string]*Baseline `json:"baselines"`
	// Rings in promotion order (Config.Rings).
	Rings []*Ring `json:"rings"`
	// Exceptions sorted by id.
	Exceptions []*Exception `json:"exceptions"`
	// Policies are the repository's own policy/*.rego files, sorted by path.
	Policies []File `json:"-"`
	// TimeFindings are the now-dependent problems (an expired exception)
	// reported instead of failing the load when Options.ExpiryAsFinding is
	// set; such an exception is in Exceptions but no longer Active.
	TimeFindings Errors `json:"-"`
}

// File is a file read from the repository.
type File struct {
	Path    string
	Content []byte
}

// Config is patchbay.cue's config.
type Config struct {
	Streams      map[string]Stream     `json:"streams"`
	Rings        []string              `json:"rings"`
	SLA          SLA                   `json:"sla"`
	Approvers    map[string][]string   `json:"approvers"`
	PolicyOwners string                `json:"policyOwners"`
	Security     string                `json:"security"`
	TrustedKeys  map[string]TrustedKey `json:"trustedKeys"`
	Reports      struct {
		StaleAfter Duration `json:"staleAfter"`
	} `json:"reports"`
	Exceptions struct {
		MaxDays int `json:"maxDays"`
	} `json:"exceptions"`
	// MainBranch is the protected branch: pull requests into it are gated,
	// its head is served and rolled out (default "main").
	MainBranch string `json:"mainBranch"`
	// Advisories names the advisory feeds to fetch; nil when not configured.
	Advisories *AdvisoryFeeds `json:"advisories,omitempty"`
	// Notify is the server's notification setup, when configured.
	Notify *Notify `json:"notify,omitempty"`
	// Cycles are the server's proposal cycles (config.cycles).
	Cycles []Cycle `json:"cycles,omitempty"`
}

// Cycle is one proposal cycle: a Schedule or a KEV deadline, never both.
type Cycle struct {
	Name      string         `json:"name"`
	Schedule  *CycleSchedule `json:"schedule,omitempty"`
	KEV       *CycleKEV      `json:"kev,omitempty"`
	MinRisk   float64        `json:"minRisk,omitempty"`
	Streams   []string       `json:"streams,omitempty"`
	NextCycle bool           `json:"nextCycle,omitempty"`
}

// CycleSchedule is a calendar cycle: every month on the Week-th (1-4, or
// "last") Weekday, every week on Weekday, or every day; at At (HH:MM) in
// Timezone.
type CycleSchedule struct {
	Every    string `json:"every"`
	Week     any    `json:"week,omitempty"`
	Weekday  string `json:"weekday,omitempty"`
	At       string `json:"at"`
	Timezone string `json:"timezone"`
}

// CycleKEV proposes the fixes for new KEV entries within Within of their
// dateAdded.
type CycleKEV struct {
	Within Duration `json:"within"`
}

// AdvisoryFeeds is config.advisories: feed URLs per host stream, KEV, EPSS.
type AdvisoryFeeds struct {
	Streams map[string][]string `json:"streams,omitempty"`
	KEV     string              `json:"kev,omitempty"`
	EPSS    string              `json:"epss,omitempty"`
	MaxMiB  int                 `json:"maxMiB,omitempty"`
}

// Notify says who the server tells what (config.notify).
type Notify struct {
	BreachLead    Duration                 `json:"breachLead"`
	ExceptionLead Duration                 `json:"exceptionLead"`
	Webhooks      map[string]NotifyWebhook `json:"webhooks,omitempty"`
	Email         *NotifyEmail             `json:"email,omitempty"`
}

// NotifyWebhook is one webhook receiver.
type NotifyWebhook struct {
	URL        string   `json:"url"`
	SecretFile string   `json:"secretFile"`
	Events     []string `json:"events"`
}

// NotifyEmail is the SMTP relay and the mail routes.
type NotifyEmail struct {
	SMTP           string                 `json:"smtp"`
	From           string                 `json:"from"`
	UsernameFile   string                 `json:"usernameFile,omitempty"`
	PasswordFile   string                 `json:"passwordFile,omitempty"`
	AllowPlaintext bool                   `json:"allowPlaintext,omitempty"`
	To             map[string]NotifyRoute `json:"to"`
}

// NotifyRoute is one list of recipients and the events they get.
type NotifyRoute struct {
	Addresses []string `json:"addresses"`
	Events    []string `json:"events"`
}

// Stream is a declared OS line.
type Stream struct {
	Ecosystem   vercmp.Ecosystem `json:"ecosystem"`
	Description string           `json:"description,omitempty"`
}

// SLA is days to remediate per severity, and for KEV findings.
type SLA struct {
	Critical int `json:"critical"`
	High     int `json:"high"`
	Medium   int `json:"medium"`
	Low      int `json:"low"`
	KEV      int `json:"kev"`
}

// Days returns the SLA days for a severity.
func (s SLA) Days(severity string) int {
	switch severity {
	case "critical":
		return s.Critical
	case "high":
		return s.High
	case "medium":
		return s.Medium
	default:
		return s.Low
	}
}

// TrustedKey is a public key trusted to sign audit records.
type TrustedKey struct {
	PublicKey   string `json:"publicKey"`
	Description string `json:"description,omitempty"`
}

// Baseline is a desired patch state.
type Baseline struct {
	ID      string                  `json:"id"`
	Created Date                    `json:"created"`
	Summary string                  `json:"summary"`
	Extends string                  `json:"extends,omitempty"`
	Streams map[string]*StreamRules `json:"streams"`
	// Digest is "sha256:" and the hex SHA-256 of the canonical JSON of the
	// evaluated baseline (see Canonical).
	Digest string `json:"-"`
	// File is the file that declares the baseline.
	File string `json:"-"`
}

// StreamRules are a baseline's rules for one stream.
type StreamRules struct {
	Packages map[string]*Rule `json:"packages,omitempty"`
	Sources  map[string]*Rule `json:"sources,omitempty"`
}

// Rule says what one package must be.
type Rule struct {
	Min            string   `json:"min,omitempty"`
	Pin            string   `json:"pin,omitempty"`
	Hold           *Reason  `json:"hold,omitempty"`
	Block          []string `json:"block,omitempty"`
	Required       bool     `json:"required"`
	Severity       string   `json:"severity"`
	KEV            bool     `json:"kev"`
	Advisories     []string `json:"advisories"`
	Published      Date     `json:"published,omitempty"`
	Reboot         bool     `json:"reboot"`
	AllowDowngrade *Reason  `json:"allowDowngrade,omitempty"`
	// Refreshed says which values advisory feeds raised over what the file
	// says (see advisory.Refresh); empty for rules as written. Not part of
	// the baseline's content or digest.
	Refreshed string `json:"-"`
}

// Reason carries the reason of a hold or an allowed downgrade.
type Reason struct {
	Reason string `json:"reason"`
}

// Ring is one stage of the promotion order.
type Ring struct {
	Name     string `json:"name"`
	Selector struct {
		Hosts  []string          `json:"hosts,omitempty"`
		Labels map[string]string `json:"labels,omitempty"`
	} `json:"selector"`
	Baseline string `json:"baseline"`
	Strategy struct {
		MaxConcurrency Budget `json:"maxConcurrency"`
		MaxErrors      Budget `json:"maxErrors"`
		// Rollback is "never" or "on-failure".
		Rollback string `json:"rollback"`
		// StepTimeout is how long a running host step may go without a
		// sign of life (its start or the agent's last heartbeat) before
		// the controller reclaims it as timed out (default 15m).
		StepTimeout Duration `json:"stepTimeout"`
	} `json:"strategy"`
	Windows          []Window `json:"windows"`
	Freeze           []Freeze `json:"freeze"`
	Soak             Duration `json:"soak"`
	SuccessThreshold float64  `json:"successThreshold"`
	Reboot           string   `json:"reboot"`
	// MinHosts is how many hosts a rollout in the ring must have changed
	// for its verification to count as evidence (default 1).
	MinHosts  int `json:"minHosts"`
	Approvals struct {
		Required int      `json:"required"`
		Groups   []string `json:"groups"`
	} `json:"approvals"`
	// File is the file that declares the ring.
	File string `json:"-"`
}

// Window is a weekly maintenance window.
type Window struct {
	Days     []string `json:"days"`
	Start    string   `json:"start"`
	Duration Duration `json:"duration"`
	Timezone string   `json:"timezone"`
}

// Freeze is an inclusive date range in which no new work starts.
type Freeze struct {
	From   Date   `json:"from"`
	To     Date   `json:"to"`
	Reason string `json:"reason"`
}

// Covers reports whether t falls on a day of the freeze (UTC dates).
func (f Freeze) Covers(t time.Time) bool {
	d := Date(t.UTC().Format(time.DateOnly))
	return d >= f.From && d <= f.To
}

// Exception waives one rule for some hosts.
type Exception struct {
	ID                  string   `json:"id"`
	Ring                string   `json:"ring,omitempty"`
	Hosts               []string `json:"hosts,omitempty"`
	Stream              string   `json:"stream"`
	Package             string   `json:"package,omitempty"`
	Source              string   `json:"source,omitempty"`
	Owner               string   `json:"owner"`
	Reason              string   `json:"reason"`
	CompensatingControl string   `json:"compensatingControl"`
	Granted             Date     `json:"granted"`
	Expires             Date     `json:"expires"`
	ApprovedBy          []string `json:"approvedBy"`
	File                string   `json:"-"`
}

// Active reports whether the exception counts at now: from the start of
// its grant date to the end of its expiry date (UTC). An exception granted
// in the future does not count yet, so it can never run longer than its
// granted → expires span.
func (e *Exception) Active(now time.Time) bool {
	now = now.UTC()
	return !now.Before(e.Granted.Time()) && now.Before(e.Expires.Time().AddDate(0, 0, 1))
}

// Date is a calendar date, YYYY-MM-DD. Its string order is its time order.
type Date string

// Time returns the date's midnight in UTC; the zero time for an empty date.
func (d Date) Time() time.Time {
	t, err := time.Parse(time.DateOnly, string(d))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Duration is a length of time written as "14d", "24h" or "1h30m".
type Duration time.Duration

// ParseDuration parses days (d), hours (h) and minutes (m).
func ParseDuration(s string) (Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("duration %q: want numbers with units d, h, m (e.g. 24h, 14d)", s)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute}[rest[i]]
		if unit == 0 {
			return 0, fmt.Errorf("duration %q: unknown unit %q (want d, h or m)", s, rest[i])
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	return Duration(total), nil
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	*d = v
	return err
}

// MarshalJSON writes the duration in hours and minutes, e.g. "24h", "1h30m".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String renders the duration as days, hours and minutes ("14d", "1h30m").
func (d Duration) String() string {
	t := time.Duration(d)
	if t == 0 {
		return "0h"
	}
	var b strings.Builder
	if days := t / (24 * time.Hour); days > 0 && t%(24*time.Hour) == 0 {
		return strconv.Itoa(int(days)) + "d"
	}
	if h := t / time.Hour; h > 0 {
		b.WriteString(strconv.Itoa(int(h)) + "h")
	}
	if m := (t % time.Hour) / time.Minute; m > 0 {
		b.WriteString(strconv.Itoa(int(m)) + "m")
	}
	return b.String()
}

// Budget is a host count or a percentage of a ring's hosts.
type Budget struct {
	N       int
	Percent bool
}

// Of resolves the budget against a ring of total hosts. A percentage rounds
// down but never below one host when it is above zero percent.
func (b Budget) Of(total int) int {
	if !b.Percent {
		return b.N
	}
	n := total * b.N / 100
	if n == 0 && b.N > 0 && total > 0 {
		n = 1
	}
	return n
}

// String renders the budget as written: "5" or "10%".
func (b Budget) String() string {
	if b.Percent {
		return strconv.Itoa(b.N) + "%"
	}
	return strconv.Itoa(b.N)
}

// UnmarshalJSON reads a number or a "N%" string.
func (b *Budget) UnmarshalJSON(data []byte) error {
	var n int
	if err := json.Unmarshal(data, &n); err == nil {
		*b = Budget{N: n}
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("budget: want a number or a percentage")
	}
	p, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if err != nil || !strings.HasSuffix(s, "%") {
		return fmt.Errorf("budget %q: want a number or a percentage", s)
	}
	*b = Budget{N: p, Percent: true}
	return nil
}

// MarshalJSON writes the budget as written in CUE.
func (b Budget) MarshalJSON() ([]byte, error) {
	if b.Percent {
		return json.Marshal(b.String())
	}
	return json.Marshal(b.N)
}

// Ring returns the ring with the given name, or nil.
func (r *Repository) Ring(name string) *Ring {
	for _, g := range r.Rings {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// PreviousRing returns the ring before name in promotion order, or nil for
// the first ring.
func (r *Repository) PreviousRing(name string) *Ring {
	for i, g := range r.Rings {
		if g.Name == name && i > 0 {
			return r.Rings[i-1]
		}
	}
	return nil
}

// BaselineIDs returns the baseline ids, sorted.
func (r *Repository) BaselineIDs() []string {
	ids := make([]string, 0, len(r.Baselines))
	for id := range r.Baselines {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Ecosystem returns the ecosystem of a declared stream.
func (r *Repository) Ecosystem(stream string) (vercmp.Ecosystem, bool) {
	s, ok := r.Config.Streams[stream]
	return s.Ecosystem, ok
}
