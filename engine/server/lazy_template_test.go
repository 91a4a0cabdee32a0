package server

import "testing"

// TestLazyTemplatesParse: the templates parsed on first use (not at
// start-up) parse; a broken one panics here, as it did at start-up before.
func TestLazyTemplatesParse(t *testing.T) {
	if loginPage() == nil || layout() == nil || layout().Lookup("layout.html") == nil {
		t.Fatal("the server templates did not parse")
	}
}
