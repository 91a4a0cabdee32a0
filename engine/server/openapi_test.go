package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/patchbay/patchbay/engine/api"
)

// spec is engine/api/openapi.yaml parsed, with a small checker of the
// schema features it uses: $ref, type, required, properties,
// additionalProperties, items, enum, format date-time, minimum/maximum.
type spec struct {
	doc   map[string]any
	paths []specPath
}

type specPath struct {
	template string
	re       *regexp.Regexp
	ops      map[string]any // method (upper case) → operation
}

func loadSpec(t testing.TB) *spec {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Fatalf("openapi.yaml: openapi %q, want 3.0.x", v)
	}
	s := &spec{doc: doc}
	for tmpl, item := range doc["paths"].(map[string]any) {
		re := regexp.MustCompile("^" + regexp.MustCompile(`\\\{[^}]+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$")
		ops := map[string]any{}
		for m, op := range item.(map[string]any) {
			ops[strings.ToUpper(m)] = op
		}
		s.paths = append(s.paths, specPath{template: tmpl, re: re, ops: ops})
	}
	// Literal paths before templated ones (/hosts before /hosts/{id}).
	sort.Slice(s.paths, func(i, j int) bool {
		return strings.Count(s.paths[i].template, "{") < strings.Count(s.paths[j].template, "{")
	})
	return s
}

func (s *spec) resolve(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = s.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// checkResponse validates a response against the operation for method and
// the concrete path.
func (s *spec) checkResponse(method, path string, status int, ctype string, body []byte) error {
	path, _, _ = strings.Cut(path, "?")
	for _, p := range s.paths {
		if !p.re.MatchString(path) {
			continue
		}
		op := s.resolve(p.ops[method])
		if op == nil {
			return fmt.Errorf("%s %s: method not in openapi.yaml", method, p.template)
		}
		resps := op["responses"].(map[string]any)
		r := s.resolve(resps[fmt.Sprint(status)])
		if r == nil {
			return fmt.Errorf("%s %s: status %d not documented", method, p.template, status)
		}
		content, _ := r["content"].(map[string]any)
		mt, _, _ := strings.Cut(ctype, ";")
		media := s.resolve(content[strings.TrimSpace(mt)])
		if media == nil {
			return fmt.Errorf("%s %s %d: content type %q not documented", method, p.template, status, ctype)
		}
		if mt != "application/json" {
			return nil
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s %s %d: body is not JSON: %v", method, p.template, status, err)
		}
		return s.validate(media["schema"], v, "body")
	}
	if status == 404 { // an undocumented path: the catch-all answers an Error
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("%s %s 404: body is not JSON", method, path)
		}
		return s.validate(map[string]any{"$ref": "#/components/schemas/Error"}, v, "body")
	}
	return fmt.Errorf("%s %s: path not in openapi.yaml", method, path)
}

func (s *spec) validate(schema, v any, at string) error {
	sc := s.resolve(schema)
	if sc == nil {
		return nil
	}
	if enum, ok := sc["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum %v", at, v, enum)
		}
	}
	switch typ, _ := sc["type"].(string); typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %T", at, v)
		}
		for _, r := range asList(sc["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: required property %q missing", at, r)
			}
		}
		props, _ := sc["properties"].(map[string]any)
		for k, val := range m {
			if ps, ok := props[k]; ok {
				if err := s.validate(ps, val, at+"."+k); err != nil {
					return err
				}
			} else if ap, ok := sc["additionalProperties"]; ok {
				if err := s.validate(ap, val, at+"."+k); err != nil {
					return err
				}
			} else if props != nil {
				return fmt.Errorf("%s: property %q not in the schema", at, k)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %T", at, v)
		}
		for i, e := range a {
			if err := s.validate(sc["items"], e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want string, got %T", at, v)
		}
		if sc["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: not a date-time: %q", at, str)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want integer, got %v", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %T", at, v)
		}
	}
	return nil
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestOpenAPIRoutes checks that every route the server serves is in
// openapi.yaml and every documented operation is served.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEnv(t)
	e.srv.EnableRollouts(nil) // the rollout admin endpoints, as patchbay serve adds them
	e.srv.EnablePublishing(nil)
	sp := loadSpec(t)
	// The webhook is mounted by serve when a GitHub secret is configured.
	e.srv.MountGitHubWebhook(http.NotFoundHandler())
	served := map[string]bool{}
	for _, r := range e.srv.Routes() {
		served[r.Method+" "+r.Pattern] = true
	}
	documented := map[string]bool{}
	for _, p := range sp.paths {
		for m := range p.ops {
			documented[m+" "+p.template] = true
		}
	}
	for r := range served {
		if !documented[r] {
			t.Errorf("served but not in openapi.yaml: %s", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("in openapi.yaml but not served: %s", r)
		}
	}
}

// TestSpecChecker makes sure the checker can fail.
func TestSpecChecker(t *testing.T) {
	sp := loadSpec(t)
	tests := []struct {
		name string
		body string
	}{
		{"missing required", `{"accepted":true}`},
		{"wrong type", `{"accepted":"yes","reportId":1,"packageSetHash":"x","setStored":false,"status":"s","actions":0}`},
		{"unknown property", `{"accepted":true,"reportId":1,"packageSetHash":"x","setStored":false,"status":"s","actions":0,"extra":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sp.checkResponse("PUT", "/api/v1/hosts/h/report", 200, "application/json", []byte(tt.body)); err == nil {
				t.Error("checker accepted an invalid body")
			}
		})
	}
	if err := sp.checkResponse("PUT", "/api/v1/hosts/h/report", 200, "application/json",
		[]byte(`{"accepted":true,"reportId":1,"packageSetHash":"x","setStored":false,"status":"s","actions":0}`)); err != nil {
		t.Errorf("valid body refused: %v", err)
	}
}
