package plural

import "testing"

func TestCount(t *testing.T) {
	tests := []struct {
		name string
		n    int
		noun string
		want string
	}{
		{"one", 1, "error", "1 error"},
		{"zero is plural", 0, "error", "0 errors"},
		{"many", 2, "host", "2 hosts"},
		{"es", 3, "match", "3 matches"},
		{"irregular", 2, "policy", "2 policies"},
		{"compound", 2, "ring.verified record", "2 ring.verified records"},
		{"compound one", 1, "policy file", "1 policy file"},
		{"compound irregular", 4, "repository policy", "4 repository policies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Count(tt.n, tt.noun); got != tt.want {
				t.Errorf("Count(%d, %q) = %q, want %q", tt.n, tt.noun, got, tt.want)
			}
		})
	}
	if Verb(1, "needs", "need") != "needs" || Verb(2, "needs", "need") != "need" {
		t.Error("Verb does not agree with the count")
	}
}
