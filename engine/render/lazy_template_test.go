package render

import "testing"

// TestLazyTemplatesParse: the templates parsed on first use (not at
// start-up) parse; a broken one panics here, as it did at start-up before.
func TestLazyTemplatesParse(t *testing.T) {
	if reportHTML() == nil || reportHTML().Lookup("report") == nil {
		t.Fatal("the report template did not parse")
	}
}
