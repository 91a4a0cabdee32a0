package advisory

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EPSS holds FIRST's Exploit Prediction Scoring System scores.
type EPSS struct {
	// Model is the model version ("v2025.03.14"); ScoreDate the day scored.
	// Both are empty/zero for files without FIRST's comment line.
	Model     string    `json:"model,omitempty"`
	ScoreDate time.Time `json:"scoreDate,omitzero"`
	// Scores by CVE id.
	Scores map[string]EPSSScore `json:"scores"`
}

// EPSSScore is one CVE's score.
type EPSSScore struct {
	// Probability of exploitation activity in the next 30 days, 0–1.
	Probability float64 `json:"epss"`
	// Percentile among all scored CVEs, 0–1.
	Percentile float64 `json:"percentile"`
}

// ParseEPSS reads FIRST's daily CSV (epss_scores-YYYY-MM-DD.csv):
// "#model_version:…,score_date:…", the header "cve,epss,percentile", then
// one row per CVE. Semicolon-separated rows without header or comment (the
// form some mirrors keep) are read too. Errors name file:line:col.
func ParseEPSS(name string, data []byte, lim Limits) (*EPSS, error) {
	if int64(len(data)) > lim.max(MaxEPSSBytes) {
		return nil, fmt.Errorf("%s: %w: more than %d bytes", name, ErrTooLarge, lim.max(MaxEPSSBytes))
	}
	e := &EPSS{Scores: make(map[string]EPSSScore, bytes.Count(data, []byte{'\n'}))}
	line := 0
	for len(data) > 0 {
		var raw []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			raw, data = data[:i], data[i+1:]
		} else {
			raw, data = data, nil
		}
		line++
		s := strings.TrimSuffix(string(raw), "\r")
		if s == "" {
			continue
		}
		if strings.HasPrefix(s, "#") {
			for _, kv := range strings.Split(s[1:], ",") {
				k, v, _ := strings.Cut(kv, ":")
				switch k {
				case "model_version":
					e.Model = v
				case "score_date":
					t, err := time.Parse(time.RFC3339, v)
					if err != nil {
						return nil, &ParseError{File: name, Line: line, Col: strings.Index(s, v) + 1, Msg: fmt.Sprintf("score_date %q is not an RFC 3339 time", v)}
					}
					e.ScoreDate = t.UTC()
				}
			}
			continue
		}
		if strings.EqualFold(s, "cve,epss,percentile") {
			continue
		}
		sep := ","
		if strings.Contains(s, ";") {
			sep = ";"
		}
		f := strings.Split(s, sep)
		if len(f) != 3 {
			return nil, &ParseError{File: name, Line: line, Col: 1, Msg: fmt.Sprintf("want 3 fields (cve,epss,percentile), found %d", len(f))}
		}
		if !cveID.MatchString(f[0]) {
			return nil, &ParseError{File: name, Line: line, Col: 1, Msg: fmt.Sprintf("%q is not a CVE id", f[0])}
		}
		var sc EPSSScore
		col := len(f[0]) + 2
		for i, dst := range []*float64{&sc.Probability, &sc.Percentile} {
			v, err := strconv.ParseFloat(f[i+1], 64)
			if err != nil || v < 0 || v > 1 || v != v {
				return nil, &ParseError{File: name, Line: line, Col: col, Msg: fmt.Sprintf("%q is not a number between 0 and 1", f[i+1])}
			}
			*dst = v
			col += len(f[i+1]) + 1
		}
		e.Scores[f[0]] = sc
	}
	if len(e.Scores) == 0 {
		return nil, &ParseError{File: name, Line: max(line, 1), Col: 1, Msg: "no scores"}
	}
	return e, nil
}
