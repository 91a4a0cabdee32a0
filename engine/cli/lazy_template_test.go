package cli

import "testing"

// TestLazyTemplatesParse: the templates parsed on first use (not at
// start-up) parse; a broken one panics here, as it did at start-up before.
func TestLazyTemplatesParse(t *testing.T) {
	if usageTemplate() == nil || usageTemplate().Lookup("usage") == nil {
		t.Fatal("the usage template did not parse")
	}
}
